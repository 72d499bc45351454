using System.Diagnostics;
using System.IO.Compression;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Xml.Linq;
using ServerlessOtlp.Client;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Packaging;

/// <summary>
/// The two packages as their users get them (tools/test.sh packs them to artifacts/packages after
/// the build): otlpctl installed as a .NET tool and run through its shim, and ServerlessOtlp.Client
/// referenced by a fresh project outside the repository, so that none of the repository's
/// Directory.*.props apply to it, which must build and run.
/// </summary>
public sealed class PackageTests
{
    // Generous: a cold NuGet cache and a busy 2-core machine; a warm run takes seconds.
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(4);

    private static readonly string Packages = Path.Combine(RepoRoot.Path, "artifacts", "packages");

    /// <summary>What this build stamps on its assemblies: "0.1.0+commit" (no "+commit" without git).</summary>
    private static readonly string BuiltVersion =
        typeof(ServerlessOtlpExporterExtensions).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion;

    private static string Version => BuiltVersion.Split('+')[0];

    private static string? BuiltCommit => BuiltVersion.Contains('+') ? BuiltVersion[(BuiltVersion.IndexOf('+') + 1)..] : null;

    [SkippableFact]
    public async Task Otlpctl_installs_as_a_dotnet_tool_and_runs_through_its_shim()
    {
        SkipUnlessPacked("otlpctl");
        using var temp = new TempFolder("otlpctl-tool-");
        // Only the local folder: a tool package has no dependencies, and no other source can answer
        // with another package of the same id and version.
        string config = temp.Write("nuget.config", NuGetConfig(clearOtherSources: true));
        string toolPath = Path.Combine(temp.Path, "tools");

        var install = await RunAsync("dotnet", temp.Path, ["tool", "install", "--tool-path", toolPath, "--configfile", config, "otlpctl", "--version", Version]);
        Assert.True(install.ExitCode == 0, "dotnet tool install failed:\n" + install.Output);

        string shim = Path.Combine(toolPath, OperatingSystem.IsWindows() ? "otlpctl.exe" : "otlpctl");
        var version = await RunAsync(shim, temp.Path, ["--version"]);
        Assert.True(version.ExitCode == 0, version.Output);
        Assert.Equal(BuiltVersion, version.Stdout.Trim());

        var help = await RunAsync(shim, temp.Path, ["--help"]);
        Assert.True(help.ExitCode == 0, help.Output);
        Assert.Contains("tenants", help.Stdout, StringComparison.Ordinal);
        Assert.Contains("dev", help.Stdout, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task A_fresh_project_builds_and_runs_with_the_client_package()
    {
        SkipUnlessPacked("ServerlessOtlp.Client");
        using var temp = new TempFolder("client-package-");
        // Empty Directory.* files end MSBuild's upward search here, whatever lies above the temp folder.
        temp.Write("Directory.Build.props", "<Project />");
        temp.Write("Directory.Build.targets", "<Project />");
        temp.Write("Directory.Packages.props", "<Project />");
        // The local folder on top of the machine's own sources (OpenTelemetry, Polly, …; mostly
        // answered from the global packages folder the repository's restore filled).
        temp.Write("nuget.config", NuGetConfig(clearOtherSources: false));
        temp.Write("PackageCheck.csproj", $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
                <NuGetAudit>false</NuGetAudit>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="ServerlessOtlp.Client" Version="{Version}" />
              </ItemGroup>
            </Project>
            """);
        temp.Write("Program.cs", """
            using Microsoft.Extensions.Logging;
            using OpenTelemetry;
            using OpenTelemetry.Logs;
            using OpenTelemetry.Metrics;
            using OpenTelemetry.Trace;
            using ServerlessOtlp.Client;

            // Each signal's provider with the client's exporter, as an application sets them up.
            // Nothing is recorded, so nothing is sent to the two (closed) endpoints.
            Action<ServerlessOtlpExporterOptions> configure = o =>
            {
                o.Endpoints = [new Uri("http://127.0.0.1:9"), new Uri("http://127.0.0.1:10")];
                o.ApiKey = "package-check";
                o.Retry.MaxRetryAttempts = 0;
                o.AttemptTimeout = TimeSpan.FromSeconds(1);
            };
            using (var tracing = Sdk.CreateTracerProviderBuilder().AddSource("PackageCheck").AddServerlessOtlpExporter(configure).Build())
            using (var metering = Sdk.CreateMeterProviderBuilder().AddMeter("PackageCheck").AddServerlessOtlpExporter(configure).Build())
            using (var logging = LoggerFactory.Create(b => b.AddOpenTelemetry(o => o.AddServerlessOtlpExporter(configure))))
            {
                _ = logging.CreateLogger("PackageCheck"); // the logger provider and its exporter start with the first logger
                var health = ServerlessOtlpHealth.GetHealth();
                Console.WriteLine($"{health.Count} endpoints, {health.Select(h => h.Signal).Distinct().Count()} signals");
            }
            """);

        // A copy of this version cached by an earlier pack of another commit would be used as it is.
        EvictFromGlobalPackages("ServerlessOtlp.Client", Version);

        // No build server or node reuse: nothing the test starts outlives it.
        var build = await RunAsync("dotnet", temp.Path, ["build", "-c", "Release", "--nologo", "-v", "quiet", "-nodeReuse:false", "-p:UseSharedCompilation=false"]);
        Assert.True(build.ExitCode == 0, "the fresh project did not build:\n" + build.Output);
        Assert.Equal(Path.GetFullPath(Packages), Path.GetFullPath(RestoredFrom("ServerlessOtlp.Client", Version)));

        var run = await RunAsync("dotnet", temp.Path, [Path.Combine("bin", "Release", "net10.0", "PackageCheck.dll")]);
        Assert.True(run.ExitCode == 0, "the program failed:\n" + run.Output);
        Assert.Equal("6 endpoints, 3 signals", run.Stdout.Trim());
    }

    /// <summary>
    /// Skips when tools/test.sh has not packed this version here, or packed it from another commit
    /// (a test of those packages would not be a test of this build).
    /// </summary>
    private static void SkipUnlessPacked(string id)
    {
        string nupkg = Path.Combine(Packages, $"{id}.{Version}.nupkg");
        Skip.IfNot(File.Exists(nupkg), $"no {id} {Version} package in {Packages}: tools/test.sh packs it there after the build");
        string? packed = PackedCommit(nupkg);
        Skip.If(
            packed != null && BuiltCommit != null && packed != BuiltCommit,
            $"{nupkg} was packed from commit {packed}, this build is {BuiltCommit}: pack again (tools/test.sh)");
    }

    private static string? PackedCommit(string nupkg)
    {
        using var zip = ZipFile.OpenRead(nupkg);
        var entry = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.OrdinalIgnoreCase) && !e.FullName.Contains('/'));
        using var stream = entry.Open();
        return XDocument.Load(stream).Descendants().FirstOrDefault(e => e.Name.LocalName == "repository")?.Attribute("commit")?.Value;
    }

    private static string GlobalPackagesFolder =>
        Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } configured
            ? configured
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");

    private static void EvictFromGlobalPackages(string id, string version)
    {
        string cached = Path.Combine(GlobalPackagesFolder, id.ToLowerInvariant(), version);
        if (Directory.Exists(cached))
        {
            Directory.Delete(cached, recursive: true);
        }
    }

    /// <summary>The source NuGet recorded when it put the package in the global packages folder.</summary>
    private static string RestoredFrom(string id, string version)
    {
        string metadata = Path.Combine(GlobalPackagesFolder, id.ToLowerInvariant(), version, ".nupkg.metadata");
        using var json = JsonDocument.Parse(File.ReadAllText(metadata));
        return json.RootElement.GetProperty("source").GetString()!;
    }

    private static string NuGetConfig(bool clearOtherSources) => $"""
        <?xml version="1.0" encoding="utf-8"?>
        <configuration>
          <packageSources>
            {(clearOtherSources ? "<clear />" : "")}
            <add key="serverlessotlp-artifacts" value="{Packages}" />
          </packageSources>
        </configuration>
        """;

    private sealed record CommandResult(int ExitCode, string Stdout, string Output);

    private static async Task<CommandResult> RunAsync(string file, string workingDirectory, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(file)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = workingDirectory,
        };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        // The test host runs under `dotnet test`, whose MSBuild variables would point a child build at
        // the outer one's SDK resolution; the child finds its own.
        foreach (string name in psi.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            psi.Environment.Remove(name);
        }

        psi.Environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        // The tool's shim finds the runtime through DOTNET_ROOT when dotnet is not in a default place.
        if (!psi.Environment.ContainsKey("DOTNET_ROOT") && Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet")
        {
            psi.Environment["DOTNET_ROOT"] = Path.GetDirectoryName(Environment.ProcessPath);
        }

        using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start " + file);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(CommandTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', psi.ArgumentList)} did not finish within {CommandTimeout}");
        }

        string output = await stdout;
        var all = new StringBuilder(output).Append(await stderr);
        return new CommandResult(process.ExitCode, output, all.ToString());
    }

    private sealed class TempFolder : IDisposable
    {
        public TempFolder(string prefix) => Path = Directory.CreateTempSubdirectory(prefix).FullName;

        public string Path { get; }

        public string Write(string name, string text)
        {
            string file = System.IO.Path.Combine(Path, name);
            File.WriteAllText(file, text);
            return file;
        }

        public void Dispose()
        {
            try
            {
                Directory.Delete(Path, recursive: true);
            }
            catch (IOException)
            {
                // A file still held open (a build node) must not fail a test that passed.
            }
        }
    }
}
