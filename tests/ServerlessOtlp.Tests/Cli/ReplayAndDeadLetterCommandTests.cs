using System.Globalization;
using System.Text.Json;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Google.Protobuf;
using OpenTelemetry.Proto.Collector.Trace.V1;
using OpenTelemetry.Proto.Trace.V1;
using ServerlessOtlp.Export.Files;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Cli;

[Collection(AzuriteCollection.Name)]
public sealed class ReplayAndDeadLetterCommandTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Several_invalid_settings_are_a_usage_error_that_names_each()
    {
        var environment = new Dictionary<string, string>
        {
            ["ServerlessOtlp__Drain__LeaseTtl"] = "00:00:00",
            ["ServerlessOtlp__Health__ResponseTimeout"] = "00:00:00",
        };
        using var replay = await Otlpctl.RunAsync(environment, "replay", "--partition", "1", "--position", "0", "--dry-run", "--storage", azurite.ConnectionString);

        Assert.True(replay.ExitCode == 2, replay.ToString());
        Assert.Contains("ServerlessOtlp:Drain:", replay.Stderr, StringComparison.Ordinal);
        Assert.Contains("ServerlessOtlp:Health: ResponseTimeout must be positive", replay.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Replay_moves_the_checkpoint_and_records_who_did_it()
    {
        using (var plan = await Otlpctl.RunAsync("replay", "--partition", "1", "--position", "0", "--dry-run", "--output", "json", "--storage", azurite.ConnectionString))
        {
            Assert.True(plan.ExitCode == 0, plan.ToString());
            using var doc = JsonDocument.Parse(plan.Stdout);
            var row = Assert.Single(doc.RootElement.EnumerateArray());
            Assert.Equal((1, 0L), (row.GetProperty("partition").GetInt32(), row.GetProperty("replayFrom").GetInt64()));
            Assert.Contains("Dry run", plan.Stderr, StringComparison.Ordinal);
        }

        // --all asks first; nobody can answer on a redirected stdin.
        using (var all = await Otlpctl.RunAsync("replay", "--all", "--position", "0", "--storage", azurite.ConnectionString))
        {
            Assert.True(all.ExitCode == 2, all.ToString());
            Assert.Contains("--yes", all.Stderr, StringComparison.Ordinal);
        }

        using (var replay = await Otlpctl.RunAsync("replay", "--partition", "1", "--position", "0", "--output", "json", "--storage", azurite.ConnectionString))
        {
            Assert.True(replay.ExitCode == 0, replay.ToString());
            using var doc = JsonDocument.Parse(replay.Stdout);
            var row = Assert.Single(doc.RootElement.EnumerateArray());
            Assert.Equal((1, 0L), (row.GetProperty("partition").GetInt32(), row.GetProperty("to").GetInt64()));
            Assert.True(row.GetProperty("replays").GetInt64() >= 1);
        }

        var checkpoint = await new CheckpointStore(new TableServiceClient(azurite.ConnectionString)).ReadAsync("blob:otlp", "$Default", 1);
        Assert.Equal(0, checkpoint.Position);
        Assert.NotNull(checkpoint.LastReplay);
        Assert.Contains("@", checkpoint.LastReplay!.By, StringComparison.Ordinal);
        Assert.Equal(0, checkpoint.LastReplay.To);
    }

    [Fact]
    public async Task Replay_for_one_tenant_starts_a_cursor_up_to_the_live_checkpoint_that_status_shows()
    {
        const int partition = 3;
        string tenant = "rp-" + Guid.NewGuid().ToString("N")[..8];
        var tables = new TableServiceClient(azurite.ConnectionString);
        var store = new TenantStore(tables);
        await store.EnsureCreatedAsync();
        await store.ApplyAsync(new TenantFile
        {
            Tenants = [new TenantConfig { Id = tenant, Destinations = [new DestinationConfig { Name = "files", Kind = FileDestination.KindName, Signals = [Signal.Traces], Settings = new FileSettings { Path = CliTestData.TempDir("otlpctl-replay") } }] }],
        });
        var container = new BlobServiceClient(azurite.ConnectionString).GetBlobContainerClient(StorageNames.DefaultLogContainer);
        await container.CreateIfNotExistsAsync();
        var log = new BlobLog(container);
        await log.OpenAsync();
        long from = (await log.GetEndAsync(partition)).Value;
        await log.AppendAsync(partition, [Processing.DrainTestContext.Event(Processing.DrainTestContext.SpanBody(1), tenant)]);
        var checkpoints = new CheckpointStore(tables);
        await checkpoints.EnsureCreatedAsync();
        long live = (await checkpoints.ReadAsync(log.Name, "$Default", partition)).Position;

        using (var replay = await Otlpctl.RunAsync("replay", "--partition", partition.ToString(CultureInfo.InvariantCulture), "--position", from.ToString(CultureInfo.InvariantCulture), "--tenant", tenant, "--storage", azurite.ConnectionString))
        {
            Assert.True(replay.ExitCode == 0, replay.ToString());
            Assert.Contains(tenant, replay.Stdout, StringComparison.Ordinal);
        }

        var cursor = await checkpoints.ReadCursorAsync(log.Name, tenant, partition);
        Assert.NotNull(cursor);
        Assert.Equal((from, live), (cursor.Start, cursor.End));
        Assert.Contains("@", cursor.CreatedBy, StringComparison.Ordinal);
        Assert.Equal(live, (await checkpoints.ReadAsync(log.Name, "$Default", partition)).Position);

        using (var status = await Otlpctl.RunAsync("status", "--storage", azurite.ConnectionString))
        {
            Assert.True(status.ExitCode == 0, status.ToString());
            Assert.Contains("replay cursors", status.Stdout, StringComparison.Ordinal);
            Assert.Contains(tenant, status.Stdout, StringComparison.Ordinal);
        }

        using (var unknown = await Otlpctl.RunAsync("replay", "--all", "--from", "10m", "--tenant", "nobody-" + tenant, "--storage", azurite.ConnectionString))
        {
            Assert.True(unknown.ExitCode == 2, unknown.ToString());
            Assert.Contains("is not configured", unknown.Stderr, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Redrive_delivers_a_planted_dead_letter_and_removes_it()
    {
        string outDir = CliTestData.TempDir("otlpctl-redrive");
        string tenant = "dl-" + Guid.NewGuid().ToString("N")[..8];
        var store = new TenantStore(new TableServiceClient(azurite.ConnectionString));
        await store.EnsureCreatedAsync();
        await store.ApplyAsync(new TenantFile
        {
            Tenants =
            [
                new TenantConfig
                {
                    Id = tenant,
                    Destinations = [new DestinationConfig { Name = "files", Kind = FileDestination.KindName, Signals = [Signal.Traces], Settings = new FileSettings { Path = outDir } }],
                },
            ],
        });

        byte[] traceId = Guid.NewGuid().ToByteArray();
        var body = new ExportTraceServiceRequest
        {
            ResourceSpans =
            {
                new ResourceSpans
                {
                    ScopeSpans = { new ScopeSpans { Spans = { new Span { TraceId = ByteString.CopyFrom(traceId), SpanId = ByteString.CopyFrom(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 }), Name = "planted" } } } },
                },
            },
        }.ToByteArray();
        var container = new BlobServiceClient(azurite.ConnectionString).GetBlobContainerClient(StorageNames.DefaultDeadLetterContainer);
        var deadLetters = new DeadLetterStore(container);
        await deadLetters.EnsureCreatedAsync();
        string id = await deadLetters.WriteAsync(tenant, "files", Signal.Traces, 3, 42, "planted by a test", body);

        using (var list = await Otlpctl.RunAsync("deadletter", "list", "--tenant", tenant, "--storage", azurite.ConnectionString))
        {
            Assert.True(list.ExitCode == 0, list.ToString());
            Assert.Contains(tenant, list.Stdout, StringComparison.Ordinal);
        }

        using (var show = await Otlpctl.RunAsync("deadletter", "show", id, "--storage", azurite.ConnectionString))
        {
            Assert.True(show.ExitCode == 0, show.ToString());
            Assert.Contains(Convert.ToHexString(traceId).ToLowerInvariant(), show.Stdout, StringComparison.Ordinal);
        }

        using (var json = await Otlpctl.RunAsync("deadletter", "list", "--tenant", tenant, "--output", "json", "--storage", azurite.ConnectionString))
        {
            Assert.True(json.ExitCode == 0, json.ToString());
            using var doc = JsonDocument.Parse(json.Stdout);
            var letter = Assert.Single(doc.RootElement.EnumerateArray());
            Assert.Equal((id, tenant, "files", "traces", 3, 42L), (letter.GetProperty("id").GetString(), letter.GetProperty("tenant").GetString(),
                letter.GetProperty("destination").GetString(), letter.GetProperty("signal").GetString(), letter.GetProperty("partition").GetInt32(), letter.GetProperty("position").GetInt64()));
        }

        using (var showJson = await Otlpctl.RunAsync("deadletter", "show", id, "--output", "json", "--storage", azurite.ConnectionString))
        {
            Assert.True(showJson.ExitCode == 0, showJson.ToString());
            using var doc = JsonDocument.Parse(showJson.Stdout);
            Assert.Equal("planted by a test", doc.RootElement.GetProperty("reason").GetString());
            string span = doc.RootElement.GetProperty("data").GetProperty("resourceSpans")[0].GetProperty("scopeSpans")[0].GetProperty("spans")[0].GetProperty("traceId").GetString()!;
            Assert.Equal(Convert.ToHexString(traceId).ToLowerInvariant(), span);
        }

        // Nobody can answer a question on a redirected stdin: refused without --yes, and nothing happens.
        using (var unconfirmed = await Otlpctl.RunAsync("deadletter", "redrive", "--tenant", tenant, "--storage", azurite.ConnectionString))
        {
            Assert.True(unconfirmed.ExitCode == 2, unconfirmed.ToString());
            Assert.Contains("--yes", unconfirmed.Stderr, StringComparison.Ordinal);
        }

        using (var dryRun = await Otlpctl.RunAsync("deadletter", "redrive", "--tenant", tenant, "--dry-run", "--storage", azurite.ConnectionString))
        {
            Assert.True(dryRun.ExitCode == 0, dryRun.ToString());
            Assert.StartsWith(id + "\t" + tenant, dryRun.Stdout, StringComparison.Ordinal);
            Assert.Contains("Dry run", dryRun.Stderr, StringComparison.Ordinal);
        }

        Assert.Single(await deadLetters.ListAsync(tenant));
        using (var redrive = await Otlpctl.RunAsync("deadletter", "redrive", "--tenant", tenant, "--yes", "--storage", azurite.ConnectionString))
        {
            Assert.True(redrive.ExitCode == 0, redrive.ToString());
            Assert.Contains("1 delivered", redrive.Stderr, StringComparison.Ordinal);
        }

        Assert.Empty(await deadLetters.ListAsync(tenant));
        string written = await File.ReadAllTextAsync(Path.Combine(outDir, "traces.jsonl"));
        Assert.Contains(Convert.ToHexString(traceId).ToLowerInvariant(), written, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Event_Hubs_consumer_groups_come_from_the_Functions_settings_and_a_replay_group_equal_to_the_live_one_is_refused()
    {
        // Bound from ServerlessOtlp__Log__EventHubs__* as in the Functions app: the same group twice is refused before anything connects.
        using var ctl = Otlpctl.Start(null, new Dictionary<string, string>
        {
            ["ServerlessOtlp__Log__EventHubs__ConsumerGroup"] = "functions",
            ["ServerlessOtlp__Log__EventHubs__ReplayConsumerGroup"] = "functions",
        }, "status", "--storage", azurite.ConnectionString, "--log", "eventhubs", "--event-hubs-namespace", "example");
        Assert.True(await ctl.WaitAsync(TimeSpan.FromSeconds(90)), ctl.ToString());
        Assert.True(ctl.ExitCode == 2, ctl.ToString());
        Assert.Contains("ReplayConsumerGroup must differ from the live consumer group \"functions\"", ctl.Stderr, StringComparison.Ordinal);
    }
}
