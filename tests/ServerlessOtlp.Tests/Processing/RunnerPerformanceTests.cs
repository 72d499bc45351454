using System.Diagnostics;
using ServerlessOtlp.Performance;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Processing;

/// <summary>A drain worker measures its components and its heartbeat row carries them for <c>otlpctl status</c> (issue 16).</summary>
[Collection(AzuriteCollection.Name)]
public sealed class RunnerPerformanceTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task A_runners_heartbeat_carries_queue_wait_drain_export_and_end_to_end_for_what_it_delivered()
    {
        string dir = Directory.CreateTempSubdirectory("perf-runner-").FullName;
        var (services, _) = await DrainTestContext.LocalServicesAsync(azurite, dir, "perf", [2, 1]);
        var runner = new LocalRunner(services, new LocalRunnerOptions
        {
            DispatchInterval = TimeSpan.FromMilliseconds(100),
            HeartbeatInterval = TimeSpan.FromMilliseconds(200),
        });

        using var stop = new CancellationTokenSource();
        var running = runner.RunAsync(stop.Token);
        try
        {
            // Wait for the event itself: a heartbeat that reports all three spans settled.
            NodeInfo? node = null;
            var watch = Stopwatch.StartNew(); // a hang guard, not a measurement
            while (watch.Elapsed < TimeSpan.FromSeconds(30))
            {
                node = (await services.Nodes.ListAsync(NodeRoles.Runner)).FirstOrDefault(n => n.Id == runner.NodeId);
                if (node?.Performance.TryGetValue(PerformanceComponents.EndToEnd, out var e2e) == true && e2e.Items.Sum() == 3)
                {
                    break;
                }

                await Task.Delay(100);
            }

            Assert.NotNull(node);
            foreach (var component in PerformanceComponents.OfDrains)
            {
                Assert.True(node.Performance.TryGetValue(component, out var snapshot), component);
                Assert.Equal(3, snapshot.Items.Sum()); // one span per event, exported once each to the file destination
                Assert.True(snapshot.Operations >= 1, component);
                Assert.Equal(0, snapshot.Errors);
            }

            Assert.False(node.Performance.ContainsKey(PerformanceComponents.Gateway)); // a runner reports only its own components
            var merged = DeploymentPerformance.Merge([new DeploymentPerformance.NodeSample(node.Performance, node.StartedAt)], DateTimeOffset.UtcNow);
            Assert.True(merged[PerformanceComponents.EndToEnd].P50Ms > 0);
            Assert.True(merged[PerformanceComponents.EndToEnd].P99Ms >= merged[PerformanceComponents.QueueWait].P50Ms);
        }
        finally
        {
            await stop.CancelAsync();
            await running;
            Directory.Delete(dir, recursive: true);
        }
    }
}
