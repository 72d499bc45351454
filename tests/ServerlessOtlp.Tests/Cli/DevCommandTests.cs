using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Azure.Data.Tables;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tests.Infrastructure;
using Xunit.Abstractions;

namespace ServerlessOtlp.Tests.Cli;

/// <summary>
/// <c>otlpctl dev</c> as a user runs it (a child process on free ports, against the test
/// Azurite): ready, takes a span from the OpenTelemetry SDK into the tenant's file destination,
/// takes <c>otlpctl load</c>, and stops cleanly on SIGTERM with its leases released.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class DevCommandTests(AzuriteFixture azurite, ITestOutputHelper output)
{
    [Fact]
    public async Task Dev_serves_readyz_delivers_a_span_takes_load_and_stops_cleanly_on_SIGTERM()
    {
        string dataDir = CliTestData.TempDir("otlpctl-dev");
        string outDir = Path.Combine(dataDir, "out");
        string tenant = "e2e-" + Guid.NewGuid().ToString("N")[..8];
        string key = CliTestData.NewKey();
        string tenants = CliTestData.TenantFile(dataDir, tenant, key, outDir);
        int grpc = TestPorts.Next(), http = TestPorts.Next(), management = TestPorts.Next();

        using var dev = Otlpctl.Start(dataDir,
            "dev", "--role", "all", "--storage", azurite.ConnectionString, "--data-dir", dataDir, "--tenants", tenants,
            "--grpc-port", grpc.ToString(), "--http-port", http.ToString(), "--management-port", management.ToString());
        try
        {
            // Ready.
            using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
            var deadline = DateTime.UtcNow.AddSeconds(90);
            HttpStatusCode? status = null;
            while (status != HttpStatusCode.OK)
            {
                Assert.False(dev.HasExited, "otlpctl dev exited:\n" + dev);
                Assert.True(DateTime.UtcNow < deadline, "not ready in time:\n" + dev);
                try
                {
                    status = (await client.GetAsync($"http://127.0.0.1:{http}/readyz")).StatusCode;
                }
                catch (HttpRequestException)
                {
                }
                catch (TaskCanceledException)
                {
                }

                await Task.Delay(200);
            }

            Assert.Contains($"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:{grpc}", dev.Stdout, StringComparison.Ordinal);

            // A span from the SDK lands in the file destination.
            using var source = new ActivitySource("otlpctl-e2e-" + tenant);
            ActivityTraceId traceId;
            using (var provider = Sdk.CreateTracerProviderBuilder()
                       .AddSource(source.Name)
                       .SetSampler(new AlwaysOnSampler())
                       .SetResourceBuilder(ResourceBuilder.CreateEmpty().AddService("otlpctl-e2e"))
                       .AddOtlpExporter(o =>
                       {
                           o.Protocol = OtlpExportProtocol.Grpc;
                           o.Endpoint = new Uri($"http://127.0.0.1:{grpc}");
                           o.Headers = $"x-api-key={key}";
                       })
                       .Build())
            {
                using (var span = source.StartActivity("e2e-span", ActivityKind.Server)!)
                {
                    traceId = span.TraceId;
                }

                Assert.True(provider.ForceFlush(10_000));
            }

            string traces = Path.Combine(outDir, "traces.jsonl");
            deadline = DateTime.UtcNow.AddSeconds(30);
            while (!(File.Exists(traces) && (await File.ReadAllTextAsync(traces)).Contains(traceId.ToHexString(), StringComparison.Ordinal)))
            {
                Assert.True(DateTime.UtcNow < deadline, $"span {traceId} not in {traces}:\n{dev}");
                await Task.Delay(250);
            }

            // Load against the running gateway, configured as an SDK is: the key stays off the command line.
            string reportPath = Path.Combine(dataDir, "load.json");
            var otelEnvironment = new Dictionary<string, string>
            {
                ["OTEL_EXPORTER_OTLP_ENDPOINT"] = $"http://127.0.0.1:{grpc}",
                ["OTEL_EXPORTER_OTLP_HEADERS"] = $"tenant-hint=x,x-api-key={Uri.EscapeDataString(key)}",
            };
            using (var load = await Otlpctl.RunAsync(otelEnvironment, "load", "--duration", "3s", "--connections", "2", "--spans-per-request", "20", "--report", reportPath))
            {
                output.WriteLine(load.Stdout);
                Assert.True(load.ExitCode == 0, load.ToString());
            }

            // Interrupted, load reports what it sent until then and exits 130, as shells expect.
            using (var interrupted = Otlpctl.Start(null, otelEnvironment, "load", "--duration", "10m", "--connections", "1", "--spans-per-request", "5"))
            {
                var started = DateTime.UtcNow.AddSeconds(60); // a hang guard
                // The first progress line: exports are flowing.
                while (!interrupted.Stderr.Contains(" accepted ", StringComparison.Ordinal))
                {
                    Assert.False(interrupted.HasExited, interrupted.ToString());
                    Assert.True(DateTime.UtcNow < started, interrupted.ToString());
                    await Task.Delay(100);
                }

                interrupted.Terminate();
                Assert.True(await interrupted.WaitAsync(TimeSpan.FromSeconds(60)), interrupted.ToString());
                Assert.True(interrupted.ExitCode == 130, interrupted.ToString());
                Assert.Contains("throughput", interrupted.Stdout, StringComparison.Ordinal);
            }

            using (var report = JsonDocument.Parse(await File.ReadAllTextAsync(reportPath)))
            {
                var root = report.RootElement;
                Assert.Equal(["sent", "accepted", "refused", "itemsPerSecond", "latencyMs"], root.EnumerateObject().Select(p => p.Name).ToArray());
                long sent = root.GetProperty("sent").GetInt64(), accepted = root.GetProperty("accepted").GetInt64();
                Assert.True(accepted > 0);
                Assert.True(accepted <= sent);
                Assert.True(root.GetProperty("itemsPerSecond").GetDouble() > 0);
                var latency = root.GetProperty("latencyMs");
                Assert.Equal(["p50", "p95", "p99", "max"], latency.EnumerateObject().Select(p => p.Name).ToArray());
                double p50 = latency.GetProperty("p50").GetDouble(), p99 = latency.GetProperty("p99").GetDouble(), max = latency.GetProperty("max").GetDouble();
                Assert.True(p50 > 0 && p50 <= p99 && p99 <= max, $"p50 {p50} p99 {p99} max {max}");
            }

            // SIGTERM: a clean stop, exit 0, leases released.
            dev.Terminate();
            Assert.True(await dev.WaitAsync(TimeSpan.FromSeconds(60)), "did not stop on SIGTERM:\n" + dev);
            output.WriteLine(dev.ToString());
            Assert.True(dev.ExitCode == 0, dev.ToString());
            var leases = await new LeaseStore(new TableServiceClient(azurite.ConnectionString)).ListAsync("blob:otlp", "$Default");
            Assert.NotEmpty(leases);
            Assert.All(leases, l => Assert.True(string.IsNullOrEmpty(l.Owner), $"partition {l.Partition} still owned by {l.Owner}"));
        }
        finally
        {
            output.WriteLine(dev.ToString());
        }
    }

    [Fact]
    public async Task Dev_stops_cleanly_when_its_storage_died_first_with_one_line_per_failure()
    {
        // Its own Azurite, stopped under it, as a process manager stopping the group may do.
        var storage = new AzuriteFixture();
        await storage.InitializeAsync();
        string dataDir = CliTestData.TempDir("otlpctl-dev-orphan");
        int grpc = TestPorts.Next(), http = TestPorts.Next(), management = TestPorts.Next();
        using var dev = Otlpctl.Start(dataDir,
            "dev", "--role", "all", "--storage", storage.ConnectionString, "--data-dir", dataDir,
            "--grpc-port", grpc.ToString(), "--http-port", http.ToString(), "--management-port", management.ToString());
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(90); // hang guards below, not measurements
            while (!dev.Stderr.Contains("Ctrl+C stops", StringComparison.Ordinal))
            {
                Assert.False(dev.HasExited, "otlpctl dev exited:\n" + dev);
                Assert.True(DateTime.UtcNow < deadline, "not ready in time:\n" + dev);
                await Task.Delay(100);
            }

            await storage.DisposeAsync();

            // Storage failures are one line each, with a count: wait for the first.
            deadline = DateTime.UtcNow.AddSeconds(90);
            while (!dev.Stderr.Contains("in a row", StringComparison.Ordinal))
            {
                Assert.False(dev.HasExited, "otlpctl dev exited:\n" + dev);
                Assert.True(DateTime.UtcNow < deadline, "no failure line:\n" + dev);
                await Task.Delay(100);
            }

            var stopping = System.Diagnostics.Stopwatch.StartNew();
            dev.Terminate();
            Assert.True(await dev.WaitAsync(TimeSpan.FromSeconds(90)), "did not stop on SIGTERM:\n" + dev);
            output.WriteLine($"stopped {stopping.Elapsed.TotalSeconds:N1} s after SIGTERM (reported, not asserted)");
            Assert.True(dev.ExitCode == 0, dev.ToString());
            Assert.DoesNotContain("   at ", dev.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", dev.Stdout, StringComparison.Ordinal);
        }
        finally
        {
            output.WriteLine(dev.ToString());
        }
    }

    [Fact]
    public async Task Dev_refuses_a_port_in_use_and_names_the_flag()
    {
        using var busy = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        busy.Start();
        int port = ((IPEndPoint)busy.LocalEndpoint).Port;
        string dataDir = CliTestData.TempDir("otlpctl-dev");
        using var dev = await Otlpctl.RunAsync("dev", "--storage", azurite.ConnectionString, "--data-dir", dataDir,
            "--grpc-port", port.ToString(), "--http-port", TestPorts.Next().ToString(), "--management-port", TestPorts.Next().ToString());
        Assert.True(dev.ExitCode == 1, dev.ToString());
        Assert.Contains($"port {port}", dev.Stderr, StringComparison.Ordinal);
        Assert.Contains("--grpc-port", dev.Stderr, StringComparison.Ordinal);

        // A runner's own metrics port: taken is a failure naming the flag, out of range a usage error before any work.
        using (var runner = await Otlpctl.RunAsync("dev", "--role", "runner", "--storage", azurite.ConnectionString, "--data-dir", dataDir, "--management-port", port.ToString()))
        {
            Assert.True(runner.ExitCode == 1, runner.ToString());
            Assert.Contains($"--management-port {port}", runner.Stderr, StringComparison.Ordinal);
        }

        using (var range = await Otlpctl.RunAsync("dev", "--role", "runner", "--storage", azurite.ConnectionString, "--data-dir", dataDir, "--management-port", "70000"))
        {
            Assert.True(range.ExitCode == 2, range.ToString());
            Assert.Contains("--management-port 70000", range.Stderr, StringComparison.Ordinal);
        }
    }
}
