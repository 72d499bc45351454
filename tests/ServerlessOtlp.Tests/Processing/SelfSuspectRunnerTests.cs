using System.Diagnostics;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Processing;

/// <summary>The failure detector with effect: a runner whose local work is too slow says so and stands aside.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class SelfSuspectRunnerTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task A_runner_whose_local_work_is_slow_reports_itself_suspect_with_its_average_and_claims_no_partition()
    {
        string dir = Directory.CreateTempSubdirectory("slow-runner-").FullName;
        var (services, log) = await DrainTestContext.LocalServicesAsync(azurite, dir, "slow", [1]);
        var runner = new LocalRunner(services, new LocalRunnerOptions
        {
            DispatchInterval = TimeSpan.FromMilliseconds(100),
            HeartbeatInterval = TimeSpan.FromMilliseconds(200),
            Health = new HealthOptions { ResponseTimeout = TimeSpan.FromMilliseconds(50) },
        });

        // An injected slow pipeline stage: the processor's own measurement of its local work says 2 s per event.
        ((TenantEventProcessor)services.Processor).LocalWork.Record(TimeSpan.FromSeconds(2));
        using var stop = new CancellationTokenSource();
        var running = runner.RunAsync(stop.Token);
        try
        {
            NodeInfo? node = null;
            var watch = Stopwatch.StartNew();
            while (node?.Status != NodeStatus.Suspect && watch.Elapsed < TimeSpan.FromSeconds(20))
            {
                await Task.Delay(100);
                node = (await services.Nodes.ListAsync(NodeRoles.Runner)).FirstOrDefault(n => n.Id == runner.NodeId);
            }

            Assert.Equal(NodeStatus.Suspect, node?.Status);
            Assert.Equal(2_000_000, node!.Counters["avgResponseMicros"]);

            // Its dispatcher ticked many times meanwhile; the partition with data was never claimed.
            Assert.True(runner.IsSlow());
            var lease = await services.Leases.ReadAsync(log.Name, services.Drain.ConsumerGroup, 0);
            Assert.Null(lease.Owner);
            Assert.Equal(0, lease.Epoch);
            Assert.False(File.Exists(Path.Combine(dir, "traces.jsonl")));
        }
        finally
        {
            await stop.CancelAsync();
            await running;
            Directory.Delete(dir, recursive: true);
        }
    }
}
