using System.Diagnostics;
using System.Net;
using Google.Protobuf;
using ServerlessOtlp.Log;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Tests.Infrastructure;
using ServerlessOtlp.Tests.Processing;

namespace ServerlessOtlp.Tests.Gateway;

/// <summary>The gateway as deployed to Azure pushes drain jobs: OTLP in, a drain job on the Functions' queue, no timer.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class PushStartedDrainTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task An_export_to_partitions_nobody_drains_puts_one_drain_job_per_partition_on_the_queue()
    {
        using var ctx = await DrainTestContext.CreateAsync(azurite.ConnectionString, partitions: 4);
        var (queue, jobs) = await ctx.QueueJobsAsync();
        using var wakeup = new DrainWakeup(ctx.Leases, jobs, ctx.Log.Name, "$Default", ctx.Log.PartitionCount);
        await using var gateway = await TestGateway.StartAsync(ctx.Log, wakeup: wakeup);
        using var http = gateway.HttpClient();

        for (int i = 0; i < 3; i++)
        {
            var response = await http.SendAsync(OtlpRequests.Post("/v1/traces", OtlpRequests.Protobuf(OtlpRequests.Traces("push-" + i, spans: 20).ToByteArray())));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var appended = new List<int>();
        for (int p = 0; p < ctx.Log.PartitionCount; p++)
        {
            if (ctx.Log.Lag(LogPosition.Start, await ctx.Log.GetEndAsync(p)) > 0)
            {
                appended.Add(p);
            }
        }

        Assert.NotEmpty(appended);

        // The checks run beside the requests: wait for the jobs themselves.
        var partitions = new List<int>();
        var watch = Stopwatch.StartNew();
        while (partitions.Count < appended.Count && watch.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(100);
            partitions = (await queue.PeekMessagesAsync(maxMessages: 32)).Value.Select(m => DrainJob.FromJson(m.Body.ToString())).Select(j => j.Partition).Order().ToList();
        }

        Assert.Equal(appended, partitions);
        Assert.Equal(appended.Count, wakeup.Enqueued);
    }
}
