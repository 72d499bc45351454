using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using ServerlessOtlp.Functions;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Functions;

[Collection(AzuriteCollection.Name)]
public sealed class FunctionTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Drain_enqueues_its_continuation_only_after_releasing_the_lease_while_lag_remains()
    {
        // A zero budget ends every job after one batch of 4.
        using var host = await FunctionTestHost.CreateAsync(azurite.ConnectionString, configure: o => { o.TimeBudget = TimeSpan.Zero; o.BatchMaxEvents = 4; });
        await host.AppendSpansAsync(1, 0, 10);
        var drain = new DrainFunction(host.Host, NullLogger<DrainFunction>.Instance);

        var first = await drain.DrainAsync(new DrainJob(1, "lag").ToJson());

        Assert.NotNull(first);
        Assert.Equal(DrainEnd.BudgetExhausted, first.End);
        Assert.Equal(4, first.Events);
        var (job, leaseWasFree) = Assert.Single(host.Jobs.Enqueued);
        Assert.Equal(1, job.Partition);
        Assert.Equal(host.Drain.OwnerId, job.ParentOwner);
        Assert.True(leaseWasFree, "the continuation was enqueued while the parent still held the lease");

        // Follow the chain of continuations, as the queue trigger would.
        var results = new List<DrainResult> { first };
        while (host.Jobs.Enqueued.TryDequeue(out var next) && results.Count < 10)
        {
            Assert.True(next.LeaseWasFree);
            results.Add((await drain.DrainAsync(next.Job.ToJson()))!);
        }

        Assert.Equal(DrainEnd.Idle, results[^1].End);
        Assert.Equal(10, results.Sum(r => r.Events));
        Assert.Equal(0, host.Log.Lag(results[^1].Checkpoint, await host.Log.GetEndAsync(1)));
    }

    [Fact]
    public async Task Drain_drops_a_message_that_is_not_a_drain_job()
    {
        using var host = await FunctionTestHost.CreateAsync(azurite.ConnectionString);
        var drain = new DrainFunction(host.Host, NullLogger<DrainFunction>.Instance);

        Assert.Null(await drain.DrainAsync("not json"));
        Assert.Null(await drain.DrainAsync(new DrainJob(99).ToJson()));
    }

    [Fact]
    public async Task Dispatch_enqueues_partitions_with_lag_and_writes_no_heartbeat()
    {
        using var host = await FunctionTestHost.CreateAsync(azurite.ConnectionString, partitions: 3);
        await host.AppendSpansAsync(2, 0, 2);
        var dispatch = new DispatchFunction(host.Host, NullLogger<DispatchFunction>.Instance);

        Assert.Equal([2], await dispatch.DispatchAsync());
        Assert.Empty(await dispatch.DispatchAsync());

        // An instance that only ran a timer holds no partition: it is not a node to watch.
        var runtime = await host.Host.GetAsync();
        Assert.DoesNotContain(await runtime.Services.Nodes.ListAsync(NodeRoles.Functions), n => n.Id == host.Drain.OwnerId);
    }

    [Fact]
    public async Task A_drain_that_ends_idle_rereads_the_log_after_releasing_and_enqueues_what_arrived_meanwhile()
    {
        using var host = await FunctionTestHost.CreateAsync(azurite.ConnectionString);
        var runtime = await host.Host.GetAsync();
        var drain = new DrainFunction(host.Host, NullLogger<DrainFunction>.Instance);

        // Nothing arrives: no job.
        Assert.Equal(DrainEnd.Idle, (await drain.DrainAsync(new DrainJob(0).ToJson()))!.End);
        Assert.Empty(host.Jobs.Enqueued);

        // An append lands after the release, while a gateway's cache still attributes the partition to this drain.
        bool leaseWasFree = false;
        runtime.WaitBeforeRecheck = async ct =>
        {
            leaseWasFree = (await runtime.Services.Leases.ReadAsync(host.Log.Name, host.Drain.ConsumerGroup, 0, ct)).IsClaimable;
            await host.AppendSpansAsync(0, 0, 1);
        };
        Assert.Equal(DrainEnd.Idle, (await drain.DrainAsync(new DrainJob(0).ToJson()))!.End);

        Assert.True(leaseWasFree, "the re-read must come after the lease is released");
        var (job, _) = Assert.Single(host.Jobs.Enqueued);
        Assert.Equal((0, "recheck"), (job.Partition, job.Reason));
    }

    [Fact]
    public async Task Drains_run_the_retry_store_as_they_go_so_no_timer_needs_to_while_data_flows()
    {
        using var host = await FunctionTestHost.CreateAsync(azurite.ConnectionString);
        var runtime = await host.Host.GetAsync();
        string tenant = "rl-" + Guid.NewGuid().ToString("N")[..8];
        await runtime.Services.RetryStore.WriteAsync(tenant, "gone", Signal.Traces, Processing.DrainTestContext.SpanBody(1), DateTimeOffset.UtcNow, 1, "HTTP 503");
        var drain = new DrainFunction(host.Host, NullLogger<DrainFunction>.Instance);

        await drain.DrainAsync(new DrainJob(1).ToJson());

        // The first drain of an instance also ran the retry store: the entry of an unknown tenant is dead-lettered.
        Assert.Empty(await runtime.Services.RetryStore.ListAsync(tenant));
        var letter = Assert.Single(await runtime.Services.DeadLetters.ListAsync(tenant));
        await runtime.Services.DeadLetters.DeleteAsync(letter.Id);
    }

    [Fact]
    public async Task Admin_status_answers_json_with_partitions_nodes_and_dead_letters()
    {
        using var host = await FunctionTestHost.CreateAsync(azurite.ConnectionString);
        await host.AppendSpansAsync(0, 0, 3);
        await host.Log.AppendAsync(0, [Processing.DrainTestContext.Event([0xFF, 0xFF], tenant: "nobody-" + Guid.NewGuid().ToString("N")[..6])]);
        await new DispatchFunction(host.Host, NullLogger<DispatchFunction>.Instance).DispatchAsync();
        await new DrainFunction(host.Host, NullLogger<DrainFunction>.Instance).DrainAsync(new DrainJob(0).ToJson());
        await host.AppendSpansAsync(1, 3, 2);
        var admin = new AdminFunctions(host.Host);

        var response = (FakeHttpResponse)await admin.StatusAsync(new FakeHttpRequest("GET", "http://localhost/api/admin/status"), default);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("application/json", response.Headers.GetValues("Content-Type").Single(), StringComparison.Ordinal);
        using var doc = JsonDocument.Parse(response.ReadBody());
        var root = doc.RootElement;
        Assert.Equal(host.Log.Name, root.GetProperty("log").GetString());
        var partitions = root.GetProperty("partitions").EnumerateArray().ToList();
        Assert.Equal(2, partitions.Count);
        Assert.Equal(0, partitions[0].GetProperty("lag").GetInt64());
        Assert.Equal(2, partitions[1].GetProperty("lag").GetInt64());
        Assert.Contains(root.GetProperty("nodes").EnumerateArray(), n => n.GetProperty("id").GetString() == host.Drain.OwnerId && n.GetProperty("role").GetString() == "functions");
        Assert.Contains(root.GetProperty("deadLetters").EnumerateObject(), d => d.Name.StartsWith("nobody-", StringComparison.Ordinal) && d.Value.GetInt32() >= 1);
    }

    [Fact]
    public async Task Admin_replay_moves_a_partition_back_audited_and_refuses_bad_requests()
    {
        using var host = await FunctionTestHost.CreateAsync(azurite.ConnectionString);
        await host.AppendSpansAsync(0, 0, 5);
        var drain = new DrainFunction(host.Host, NullLogger<DrainFunction>.Instance);
        Assert.Equal(5, (await drain.DrainAsync(new DrainJob(0).ToJson()))!.Events);
        var admin = new AdminFunctions(host.Host);

        var replay = (FakeHttpResponse)await admin.ReplayAsync(new FakeHttpRequest("POST", "http://localhost/api/admin/replay", """{ "partition": 0, "position": 2 }"""), default);
        Assert.Equal(HttpStatusCode.OK, replay.StatusCode);
        using (var doc = JsonDocument.Parse(replay.ReadBody()))
        {
            var audit = doc.RootElement.GetProperty("replayed").EnumerateArray().Single();
            Assert.Equal(AdminFunctions.ReplayedBy, audit.GetProperty("by").GetString());
            Assert.Equal(5, audit.GetProperty("from").GetInt64());
            Assert.Equal(2, audit.GetProperty("to").GetInt64());
        }

        Assert.Equal(3, (await drain.DrainAsync(new DrainJob(0).ToJson()))!.Events);

        foreach (string bad in new[]
        {
            """{ "partition": 0 }""", """{ "all": true, "position": 3 }""", """{ "partition": 7, "position": 0 }""", "{", """{ "partition": 0, "all": true, "position": 1 }""",
            """{ "tenant": "nobody", "all": true, "from": "2025-01-01T00:00:00Z" }""", """{ "tenant": "a/b", "partition": 0, "position": 0 }""",
        })
        {
            var response = (FakeHttpResponse)await admin.ReplayAsync(new FakeHttpRequest("POST", "http://localhost/api/admin/replay", bad), default);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        }
    }

    [Fact]
    public async Task Admin_replay_for_a_tenant_starts_cursors_that_dispatch_drain_and_status_follow()
    {
        using var host = await FunctionTestHost.CreateAsync(azurite.ConnectionString);
        await host.AppendSpansAsync(0, 0, 4);
        await host.Log.AppendAsync(0, [Processing.DrainTestContext.Event(Processing.DrainTestContext.SpanBody(4), tenant: "other")]);
        var drain = new DrainFunction(host.Host, NullLogger<DrainFunction>.Instance);
        Assert.Equal(5, (await drain.DrainAsync(new DrainJob(0).ToJson()))!.Events);
        var admin = new AdminFunctions(host.Host);

        var replay = (FakeHttpResponse)await admin.ReplayAsync(new FakeHttpRequest("POST", "http://localhost/api/admin/replay", """{ "tenant": "acme", "partition": 0, "position": 1 }"""), default);

        Assert.Equal(HttpStatusCode.Accepted, replay.StatusCode);
        using (var doc = JsonDocument.Parse(replay.ReadBody()))
        {
            var cursor = doc.RootElement.GetProperty("cursors").EnumerateArray().Single();
            Assert.Equal("acme", cursor.GetProperty("tenant").GetString());
            Assert.Equal(1, cursor.GetProperty("start").GetInt64());
            Assert.Equal(5, cursor.GetProperty("end").GetInt64());
            Assert.Equal("active", cursor.GetProperty("state").GetString());
        }

        var row = await (await host.Host.GetAsync()).Services.Checkpoints.ReadCursorAsync(host.Log.Name, "acme", 0);
        Assert.Equal((1L, 5L, AdminFunctions.ReplayedBy), (row!.Position, row.End, row.CreatedBy));
        Assert.Contains("\"replayCursors\"", (await StatusBodyAsync(admin)), StringComparison.Ordinal);

        // Dispatch enqueues the cursor's job (the live partition has no lag); Drain runs it to its end.
        Assert.Empty(await new DispatchFunction(host.Host, NullLogger<DispatchFunction>.Instance).DispatchAsync());
        var (job, leaseWasFree) = Assert.Single(host.Jobs.Enqueued);
        Assert.Equal(("acme", 0), (job.Tenant, job.Partition));
        Assert.True(leaseWasFree);
        var result = await drain.DrainAsync(job.ToJson());

        Assert.Equal(DrainEnd.ReachedEnd, result!.End);
        var spans = System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(Path.Combine(host.OutputDir, "traces.jsonl")), "\"name\":\\s*\"span-(\\d+)\"").Select(m => m.Groups[1].Value);
        Assert.Equal(["0", "1", "2", "3", "1", "2", "3"], spans);
        using var status = JsonDocument.Parse(await StatusBodyAsync(admin));
        var shown = status.RootElement.GetProperty("replayCursors").EnumerateArray().Single();
        Assert.Equal(("done", 0L, 5L), (shown.GetProperty("state").GetString(), shown.GetProperty("lag").GetInt64(), shown.GetProperty("position").GetInt64()));
        Assert.Equal(5, status.RootElement.GetProperty("partitions")[0].GetProperty("checkpoint").GetInt64());
    }

    [Fact]
    public async Task Admin_replay_of_all_partitions_from_a_time_uses_the_log_position_of_that_time()
    {
        using var host = await FunctionTestHost.CreateAsync(azurite.ConnectionString);
        await host.AppendSpansAsync(0, 0, 2);
        await host.AppendSpansAsync(1, 2, 2);
        var (status, body) = await new AdminFunctions(host.Host).ReplayAsync(new ReplayRequest(All: true, From: DateTimeOffset.UtcNow.AddHours(-1)));

        Assert.Equal(HttpStatusCode.OK, status);
        var json = JsonSerializer.SerializeToElement(body, body.GetType(), AdminFunctions.Json);
        Assert.Equal([0, 1], json.GetProperty("replayed").EnumerateArray().Select(a => a.GetProperty("partition").GetInt32()));
        long first = (await host.Log.FindPositionAsync(0, DateTimeOffset.UtcNow.AddHours(-1))).Value;
        Assert.All(json.GetProperty("replayed").EnumerateArray(), a => Assert.Equal(first, a.GetProperty("to").GetInt64()));
    }

    private static async Task<string> StatusBodyAsync(AdminFunctions admin) =>
        ((FakeHttpResponse)await admin.StatusAsync(new FakeHttpRequest("GET", "http://localhost/api/admin/status"), default)).ReadBody();
}
