using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;
using ServerlessOtlp.Export.Files;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Cli;
using ServerlessOtlp.Tests.Gateway;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Pipeline;

/// <summary>
/// Gateway and local runner in one process, as <c>otlpctl dev</c> runs them, with the dispatcher silenced
/// (its period an hour): only the gateway's pushes can start drains, before and after the drains went idle.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class PushStartedLocalTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task With_the_dispatcher_silent_the_gateways_pushes_start_every_drain_after_each_idle_spell()
    {
        string dir = CliTestData.TempDir("push-local");
        var tenants = new TenantFile
        {
            Tenants =
            [
                new TenantConfig
                {
                    Id = "acme",
                    ApiKeys = [TestGateway.AcmeKey],
                    Destinations = [new DestinationConfig { Name = "files", Kind = FileDestination.KindName, Signals = [Signal.Traces], Settings = new FileSettings { Path = dir } }],
                },
            ],
        };
        var log = new MemoryLog(4, "push-" + Guid.NewGuid().ToString("N")[..8]);
        var services = await ProcessingServices.CreateAsync(log, azurite.IsolatedStorage(), new InMemoryTenantDirectory(tenants),
            new DrainOptions { LeaseTtl = TimeSpan.FromSeconds(6), ExportTimeout = TimeSpan.FromSeconds(2), IdleTimeout = TimeSpan.FromMilliseconds(300), PollInterval = TimeSpan.FromMilliseconds(50) },
            NullLoggerFactory.Instance, Export.TestEgress.Local);
        var runner = new LocalRunner(services, new LocalRunnerOptions { DispatchInterval = TimeSpan.FromHours(1) });
        using var wakeup = new DrainWakeup(services.Leases, runner.Jobs, log.Name, services.Drain.ConsumerGroup, log.PartitionCount, services.Time);
        using var stop = new CancellationTokenSource();
        var running = runner.RunAsync(stop.Token);
        await using var gateway = await TestGateway.StartAsync(log, tenants, wakeup: wakeup);
        using var http = gateway.HttpClient();
        try
        {
            for (int burst = 1; burst <= 2; burst++)
            {
                var response = await http.SendAsync(OtlpRequests.Post("/v1/traces", OtlpRequests.Protobuf(OtlpRequests.Traces($"burst{burst}", spans: 20).ToByteArray())));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.True(await WaitAsync(() => Delivered(dir, $"burst{burst}") == 20), $"burst {burst}: {Delivered(dir, $"burst{burst}")} of 20 spans delivered");

                // Let every drain end idle (and its re-read pass) before the next burst.
                Assert.True(await WaitAsync(() => runner.ActiveDrains == 0), "the drains never went idle");
                await Task.Delay(DrainWakeup.Horizon + TimeSpan.FromMilliseconds(200));
            }

            Assert.True(wakeup.Enqueued >= 2, $"{wakeup.Enqueued} jobs pushed");
        }
        finally
        {
            await stop.CancelAsync();
            await running;
        }
    }

    private static int Delivered(string dir, string marker)
    {
        string file = Path.Combine(dir, "traces.jsonl");
        if (!File.Exists(file))
        {
            return 0;
        }

        using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        string text = new StreamReader(stream).ReadToEnd();
        return Regex.Matches(text, "\"" + marker + "-\\d+\"").Select(m => m.Value).Distinct().Count();
    }

    private static async Task<bool> WaitAsync(Func<bool> condition)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > TimeSpan.FromSeconds(60))
            {
                return false;
            }

            await Task.Delay(50);
        }

        return true;
    }
}
