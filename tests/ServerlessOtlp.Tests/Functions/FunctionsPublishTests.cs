using System.Text.Json;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Functions;

/// <summary>
/// What azd zips and deploys: the Functions app's publish output (tools/test.sh publishes it to
/// artifacts/functions-publish as <c>azd deploy</c> does), not the build folder the other tests read.
/// </summary>
public sealed class FunctionsPublishTests
{
    private static readonly string Output = Path.Combine(RepoRoot.Path, "artifacts", "functions-publish");

    private static void SkipUnlessPublished() =>
        Skip.IfNot(File.Exists(Path.Combine(Output, "ServerlessOtlp.Functions.dll")), $"no publish output at {Output}: tools/test.sh publishes the Functions app there before the tests");

    private static JsonDocument Read(string file)
    {
        string path = Path.Combine(Output, file);
        Assert.True(File.Exists(path), $"{file} is missing from the publish output");
        return JsonDocument.Parse(File.ReadAllText(path));
    }

    [SkippableFact]
    public void The_package_indexes_every_function_with_its_trigger()
    {
        SkipUnlessPublished();
        using var metadata = Read("functions.metadata");
        var names = metadata.RootElement.EnumerateArray().Select(f => f.GetProperty("name").GetString()).Order(StringComparer.Ordinal);
        Assert.Equal(["AdminRedrive", "AdminReplay", "AdminStatus", "Dispatch", "Drain", "Maintenance"], names);

        using var worker = Read("worker.config.json");
        var description = worker.RootElement.GetProperty("description");
        Assert.Equal("dotnet-isolated", description.GetProperty("language").GetString());
        Assert.True(File.Exists(Path.Combine(Output, description.GetProperty("defaultWorkerPath").GetString()!)), "the worker path names no file in the package");
    }

    [Fact]
    public async Task A_publish_is_precompiled_for_linux_x64_and_a_build_stays_portable()
    {
        // ReadyToRun (BENCHMARKS.md, "Cold start"): native code for the drain path beside the IL, so a new instance
        // does not start on tier-0 JIT code. Checked by evaluating the project as `dotnet publish` (azd deploy) does;
        // tools/test.sh publishes the package above portable, to spare the suite a second compile and a crossgen pass.
        var publishing = await EvaluateAsync("-p:_IsPublishing=true");
        Assert.Equal(("true", "linux-x64", "false"), (publishing["PublishReadyToRun"], publishing["RuntimeIdentifier"], publishing["SelfContained"]));
        var building = await EvaluateAsync();
        Assert.Equal("", building["RuntimeIdentifier"]); // the build the tests load is portable
    }

    private static async Task<Dictionary<string, string>> EvaluateAsync(params string[] properties)
    {
        var start = new System.Diagnostics.ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in new[] { "msbuild", Path.Combine(RepoRoot.Path, "functions", "ServerlessOtlp.Functions", "ServerlessOtlp.Functions.csproj"),
                     "-p:Configuration=Release", "-getProperty:PublishReadyToRun", "-getProperty:RuntimeIdentifier", "-getProperty:SelfContained" }.Concat(properties))
        {
            start.ArgumentList.Add(arg);
        }

        using var msbuild = System.Diagnostics.Process.Start(start)!;
        var stdout = msbuild.StandardOutput.ReadToEndAsync();
        var stderr = msbuild.StandardError.ReadToEndAsync();
        await msbuild.WaitForExitAsync();
        Assert.True(msbuild.ExitCode == 0, await stdout + await stderr);
        using var json = JsonDocument.Parse(await stdout);
        return json.RootElement.GetProperty("Properties").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "");
    }

    [SkippableFact]
    public void The_package_carries_the_repository_host_json_and_no_local_settings()
    {
        SkipUnlessPublished();
        Assert.Equal(File.ReadAllText(Path.Combine(RepoRoot.Path, "host.json")), File.ReadAllText(Path.Combine(Output, "host.json")));
        Assert.False(File.Exists(Path.Combine(Output, "local.settings.json")), "local.settings.json (Azurite connection strings) must not be deployed");
    }

    [SkippableFact]
    public void The_queue_trigger_extension_the_host_loads_is_in_the_package()
    {
        SkipUnlessPublished();
        using var extensions = Read("extensions.json");
        var queues = Assert.Single(extensions.RootElement.GetProperty("extensions").EnumerateArray(), e => e.GetProperty("name").GetString() == "AzureStorageQueues");
        string hint = queues.GetProperty("hintPath").GetString()!;
        Assert.True(File.Exists(Path.GetFullPath(Path.Combine(Output, hint))), $"extensions.json points the host at {hint}, which is not in the package");
        Assert.True(File.Exists(Path.Combine(Output, ".azurefunctions", "function.deps.json")));
    }
}
