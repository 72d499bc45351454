using System.Text.Json;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Cli;

/// <summary>
/// otlpctl behaves as the CLIs operators script (kubectl, az, gh): data alone on stdout, JSON on
/// request, exit codes 0/1/2/130, storage from the environment, questions before destruction, one
/// line for an unexpected error. All through the real binary.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class CliConventionsTests(AzuriteFixture azurite)
{
    [Theory]
    [InlineData("tenants", "list", "--no-such-flag")]
    [InlineData("status", "--output", "yaml")]
    [InlineData("tenants")]
    [InlineData("replay", "--partition", "not-a-number")]
    public async Task Usage_errors_exit_2_with_the_error_on_stderr_and_nothing_on_stdout(params string[] args)
    {
        using var ctl = await Otlpctl.RunAsync(args);
        Assert.True(ctl.ExitCode == 2, ctl.ToString());
        Assert.Equal("", ctl.Stdout);
        Assert.Contains("error: ", ctl.Stderr, StringComparison.Ordinal);
        Assert.Contains("--help", ctl.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_is_data_on_stdout_and_exits_0()
    {
        using var ctl = await Otlpctl.RunAsync("tenants", "--help");
        Assert.True(ctl.ExitCode == 0, ctl.ToString());
        Assert.Contains("remove", ctl.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_without_an_endpoint_flag_or_OTEL_variable_is_a_usage_error()
    {
        using var ctl = await Otlpctl.RunAsync(new Dictionary<string, string> { ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "", ["OTEL_EXPORTER_OTLP_HEADERS"] = "" }, "load");
        Assert.True(ctl.ExitCode == 2, ctl.ToString());
        Assert.Contains("OTEL_EXPORTER_OTLP_ENDPOINT", ctl.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unexpected_error_is_one_line_with_a_log_file_and_the_stack_trace_only_with_verbose()
    {
        // A data directory under a file: the OS refuses it, which no command foresees.
        string file = Path.Combine(CliTestData.TempDir("otlpctl-unexpected"), "a-file");
        await File.WriteAllTextAsync(file, "");
        string dataDir = Path.Combine(file, "data");

        using (var ctl = await Otlpctl.RunAsync("dev", "--data-dir", dataDir, "--storage", azurite.ConnectionString))
        {
            Assert.True(ctl.ExitCode == 1, ctl.ToString());
            string line = Assert.Single(ctl.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            Assert.StartsWith("error: unexpected ", line, StringComparison.Ordinal);
            Assert.Contains("Exception: ", line, StringComparison.Ordinal);
            string log = line[(line.IndexOf("details in ", StringComparison.Ordinal) + "details in ".Length)..line.IndexOf("; --verbose", StringComparison.Ordinal)];
            Assert.Contains("   at ", await File.ReadAllTextAsync(log), StringComparison.Ordinal);
        }

        using (var verbose = await Otlpctl.RunAsync("dev", "--data-dir", dataDir, "--storage", azurite.ConnectionString, "--verbose"))
        {
            Assert.True(verbose.ExitCode == 1, verbose.ToString());
            Assert.Contains("   at ", verbose.Stderr, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Tenants_add_prints_the_key_alone_list_takes_json_and_remove_asks_first()
    {
        string tenant = "conv-" + Guid.NewGuid().ToString("N")[..8];
        string key;
        using (var add = await Otlpctl.RunAsync("tenants", "add", tenant, "--storage", azurite.ConnectionString))
        {
            Assert.True(add.ExitCode == 0, add.ToString());
            key = add.Stdout.TrimEnd('\n', '\r');
            Assert.DoesNotContain('\n', key);
            Assert.DoesNotContain(" ", key, StringComparison.Ordinal);
            Assert.Contains(tenant, add.Stderr, StringComparison.Ordinal);
        }

        Assert.True(await IsListedAsync(tenant, azurite.ConnectionString));

        using (var unconfirmed = await Otlpctl.RunAsync("tenants", "remove", tenant, "--storage", azurite.ConnectionString))
        {
            Assert.True(unconfirmed.ExitCode == 2, unconfirmed.ToString());
            Assert.Contains("--yes", unconfirmed.Stderr, StringComparison.Ordinal);
        }

        using (var dryRun = await Otlpctl.RunAsync("tenants", "remove", tenant, "--dry-run", "--storage", azurite.ConnectionString))
        {
            Assert.True(dryRun.ExitCode == 0, dryRun.ToString());
            Assert.Contains("would remove tenant " + tenant, dryRun.Stderr, StringComparison.Ordinal);
        }

        Assert.True(await IsListedAsync(tenant, azurite.ConnectionString));
        using (var remove = await Otlpctl.RunAsync("tenants", "remove", tenant, "--yes", "--storage", azurite.ConnectionString))
        {
            Assert.True(remove.ExitCode == 0, remove.ToString());
        }

        Assert.False(await IsListedAsync(tenant, azurite.ConnectionString));
    }

    [Fact]
    public async Task Storage_comes_from_the_environment_and_a_flag_wins_over_it()
    {
        string tenant = "env-" + Guid.NewGuid().ToString("N")[..8];
        using (var add = await Otlpctl.RunAsync(new Dictionary<string, string> { ["AZURE_STORAGE_CONNECTION_STRING"] = azurite.ConnectionString }, "tenants", "add", tenant))
        {
            Assert.True(add.ExitCode == 0, add.ToString());
        }

        Assert.True(await IsListedAsync(tenant, azurite.ConnectionString));

        // OTLPCTL_STORAGE before AZURE_STORAGE_CONNECTION_STRING; a flag before both.
        string unreachable = Unreachable();
        using (var ours = await Otlpctl.RunAsync(new Dictionary<string, string> { ["OTLPCTL_STORAGE"] = azurite.ConnectionString, ["AZURE_STORAGE_CONNECTION_STRING"] = unreachable }, "tenants", "list", "-o", "json"))
        {
            Assert.True(ours.ExitCode == 0, ours.ToString());
            Assert.Contains(tenant, ours.Stdout, StringComparison.Ordinal);
        }

        using (var flag = await Otlpctl.RunAsync(new Dictionary<string, string> { ["OTLPCTL_STORAGE"] = unreachable }, "tenants", "list", "--storage", azurite.ConnectionString))
        {
            Assert.True(flag.ExitCode == 0, flag.ToString());
        }

        using (var env = await Otlpctl.RunAsync(new Dictionary<string, string> { ["OTLPCTL_STORAGE"] = unreachable }, "tenants", "list"))
        {
            Assert.True(env.ExitCode == 1, env.ToString());
            Assert.Contains("storage unreachable", env.Stderr, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Status_prints_json_once_or_one_document_per_line_while_watching_and_an_interrupted_watch_exits_130()
    {
        // A runner that reported its local work's average response time: the node carries it in milliseconds.
        var nodes = new ServerlessOtlp.Storage.NodeStore(new ServerlessOtlp.Hosting.StorageClients(new ServerlessOtlp.Hosting.StorageOptions { ConnectionString = azurite.ConnectionString }).Tables);
        await nodes.EnsureCreatedAsync();
        string runnerId = "status-json-" + Guid.NewGuid().ToString("N")[..8];
        var drain = new ServerlessOtlp.Performance.ComponentRecorder();
        for (int i = 0; i < 10; i++)
        {
            drain.Record(TimeSpan.FromMilliseconds(3), items: 5);
        }

        await nodes.HeartbeatAsync(new ServerlessOtlp.Storage.NodeHeartbeat(ServerlessOtlp.Storage.NodeRoles.Runner, runnerId, "1", "host", DateTimeOffset.UtcNow,
            ServerlessOtlp.Storage.NodeStatus.Suspect, new Dictionary<string, long> { ["avgResponseMicros"] = 6_250_000 },
            new Dictionary<string, ServerlessOtlp.Performance.ComponentSnapshot> { ["drain"] = drain.Snapshot()! }));

        using (var once = await Otlpctl.RunAsync("status", "--output", "json", "--storage", azurite.ConnectionString))
        {
            Assert.True(once.ExitCode == 0, once.ToString());
            using var doc = JsonDocument.Parse(once.Stdout);
            var partitions = doc.RootElement.GetProperty("partitions");
            Assert.True(partitions.GetArrayLength() > 0, once.Stdout);
            Assert.All(partitions.EnumerateArray(), p => Assert.True(p.GetProperty("lag").GetInt64() >= 0));
            Assert.Equal(JsonValueKind.Array, doc.RootElement.GetProperty("nodes").ValueKind);
            var runner = Assert.Single(doc.RootElement.GetProperty("nodes").EnumerateArray(), n => n.GetProperty("id").GetString() == runnerId);
            Assert.Equal(("suspect", 6250.0), (runner.GetProperty("state").GetString(), runner.GetProperty("avgResponseMs").GetDouble()));
            Assert.Equal(6_250_000, runner.GetProperty("counters").GetProperty("avgResponseMicros").GetInt64());
            Assert.Equal(JsonValueKind.Object, doc.RootElement.GetProperty("deadLetters").ValueKind);

            // Every component is present (idle ones as zeros), in the shape CONTRACTS.md names; the suspect
            // runner is live, so its ten operations are in the merge (other tests' nodes can only add to them).
            var components = doc.RootElement.GetProperty("components");
            Assert.Equal(["append", "drain", "endToEnd", "export", "gateway", "queueWait"], components.EnumerateObject().Select(c => c.Name).Order());
            foreach (var c in components.EnumerateObject())
            {
                Assert.True(c.Value.GetProperty("latencyMs").GetProperty("p99").GetDouble() >= c.Value.GetProperty("latencyMs").GetProperty("p50").GetDouble(), c.ToString());
                Assert.True(c.Value.GetProperty("itemsPerSecond").GetProperty("peak").GetDouble() >= 0, c.ToString());
                Assert.InRange(c.Value.GetProperty("errorRate").GetDouble(), 0, 1);
            }

            Assert.True(components.GetProperty("drain").GetProperty("operations").GetInt64() >= 10, components.ToString());
        }

        await nodes.RemoveAsync(ServerlessOtlp.Storage.NodeRoles.Runner, runnerId);

        using var watch = Otlpctl.Start(null, "status", "--watch", "--output", "json", "--storage", azurite.ConnectionString);
        var deadline = DateTime.UtcNow.AddSeconds(60); // a hang guard, not a measurement
        while (watch.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length < 2)
        {
            Assert.False(watch.HasExited, watch.ToString());
            Assert.True(DateTime.UtcNow < deadline, "no second document:\n" + watch);
            await Task.Delay(100);
        }

        watch.Terminate();
        Assert.True(await watch.WaitAsync(TimeSpan.FromSeconds(60)), watch.ToString());
        Assert.True(watch.ExitCode == 130, watch.ToString());
        foreach (string line in watch.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using var doc = JsonDocument.Parse(line);
            Assert.Equal(JsonValueKind.Array, doc.RootElement.GetProperty("partitions").ValueKind);
        }
    }

    private static async Task<bool> IsListedAsync(string tenant, string storage)
    {
        using var list = await Otlpctl.RunAsync("tenants", "list", "--output", "json", "--storage", storage);
        Assert.True(list.ExitCode == 0, list.ToString());
        using var doc = JsonDocument.Parse(list.Stdout);
        return doc.RootElement.EnumerateArray().Any(t => t.GetProperty("id").GetString() == tenant);
    }

    private static string Unreachable()
    {
        int port = TestPorts.Next();
        return $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{port}/devstoreaccount1;TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;";
    }
}
