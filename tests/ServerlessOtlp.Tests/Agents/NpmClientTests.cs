using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using ServerlessOtlp.Agents;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tests.Cli;
using ServerlessOtlp.Tests.Infrastructure;
using ServerlessOtlp.Tests.Reliability;
using Xunit.Abstractions;

namespace ServerlessOtlp.Tests.Agents;

/// <summary>
/// A third-party OpAMP client, the npm package <c>@elastic/opamp-client-node</c> (HTTP transport, remote config),
/// against <c>otlpctl dev</c> as a user runs it (a child process on test ports, its own table names on the test
/// Azurite), and <c>otlpctl agents</c> through the real binary.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class NpmClientTests(AzuriteFixture azurite, ITestOutputHelper output)
{
    private const string AcmeKey = "acme-npm-key-0123456789abcdef";
    private const string GlobexKey = "globex-npm-key-0123456789abcdef";

    private static string TenantFile(string dir, string edgeVersion)
    {
        var doc = new
        {
            tenants = new object[]
            {
                new
                {
                    id = "acme",
                    apiKeys = new[] { AcmeKey },
                    agents = new
                    {
                        configs = new object[]
                        {
                            new
                            {
                                name = "edge",
                                match = new Dictionary<string, string> { ["service.name"] = "checkout-npm" },
                                contentType = "text/yaml",
                                body = $"exporters:\n  otlphttp:\n    endpoint: ${{serverlessotlp:endpoint}}\n    headers:\n      x-api-key: ${{serverlessotlp:api_key}}\n# {edgeVersion}\n",
                            },
                            new { name = "strict", match = new Dictionary<string, string> { ["service.name"] = "strict-npm" }, contentType = "text/yaml", body = "receivers: {}\n" },
                        },
                    },
                },
                new
                {
                    id = "globex",
                    apiKeys = new[] { GlobexKey },
                    agents = new { configs = new object[] { new { name = "globex-default", contentType = "text/yaml", body = "exporters: {}\n" } } },
                },
            },
        };
        string path = Path.Combine(dir, "tenants.json");
        File.WriteAllText(path, JsonSerializer.Serialize(doc));
        return path;
    }

    [SkippableFact]
    public async Task Npm_client_against_otlpctl_dev_is_registered_configured_acknowledged_reconfigured_and_kept_to_its_tenant()
    {
        string? why = NodeOpAmpAgent.Unavailable();
        Skip.If(why is not null, why);
        string dataDir = CliTestData.TempDir("opamp-npm");
        var names = AzuriteFixture.UniqueNames();
        var environment = AzuriteFixture.NameSettings(names);
        string tenants = TenantFile(dataDir, "v1");
        int grpc = TestPorts.Next(), http = TestPorts.Next(), management = TestPorts.Next();
        using var dev = ChildProcess.Otlpctl("dev --role gateway", dataDir, environment,
            "dev", "--role", "gateway", "--storage", azurite.ConnectionString, "--data-dir", dataDir, "--tenants", tenants,
            "--grpc-port", grpc.ToString(), "--http-port", http.ToString(), "--management-port", management.ToString());
        using var acme = new List<NodeOpAmpAgent>().AsDisposable();
        try
        {
            await WaitReadyAsync(dev, http);
            string endpoint = $"http://127.0.0.1:{http}/v1/opamp";

            // Registered, configured (placeholders filled), acknowledged APPLIED.
            var edge = acme.Add(NodeOpAmpAgent.Start(endpoint, AcmeKey, "checkout-npm"));
            await edge.WaitForAsync(a => a.Configs.Count >= 1, "the first remote config");
            var (hash1, configNames, body1) = edge.Configs[0];
            Assert.Equal(["edge"], configNames);
            Assert.Contains($"endpoint: http://127.0.0.1:{http}", body1, StringComparison.Ordinal);
            Assert.Contains($"x-api-key: {AcmeKey}", body1, StringComparison.Ordinal);
            var listed = await WaitForAgentAsync(environment, "acme", edge.UidHex, a => a.GetProperty("remoteConfig").GetProperty("status").GetString() == "APPLIED");
            Assert.Equal(
                ["instanceUid", "tenant", "identifyingAttributes", "nonIdentifyingAttributes", "state", "lastSeen", "health", "effectiveConfigHash", "remoteConfig"],
                listed.EnumerateObject().Select(p => p.Name).ToArray());
            Assert.Equal("acme", listed.GetProperty("tenant").GetString());
            Assert.Equal("checkout-npm", listed.GetProperty("identifyingAttributes").GetProperty("service.name").GetString());
            Assert.Equal("test-host", listed.GetProperty("nonIdentifyingAttributes").GetProperty("host.name").GetString());
            Assert.Equal("alive", listed.GetProperty("state").GetString());
            Assert.True(DateTimeOffset.TryParse(listed.GetProperty("lastSeen").GetString(), out _));
            Assert.Equal(["healthy", "status", "lastError"], listed.GetProperty("health").EnumerateObject().Select(p => p.Name).ToArray());
            var remote = listed.GetProperty("remoteConfig");
            Assert.Equal(["name", "hash", "status", "errorMessage"], remote.EnumerateObject().Select(p => p.Name).ToArray());
            Assert.Equal("edge", remote.GetProperty("name").GetString());
            Assert.Equal(hash1, remote.GetProperty("hash").GetString());

            // A changed tenant file reaches the agent on a later poll (the gateway's tenant cache: 10 s).
            TenantFile(dataDir, "v2");
            using (var apply = await Otlpctl.RunAsync(environment, "tenants", "apply", "-f", tenants, "--storage", azurite.ConnectionString))
            {
                Assert.True(apply.ExitCode == 0, apply.ToString());
            }

            await edge.WaitForAsync(a => a.Configs.Any(c => c.Body.Contains("# v2", StringComparison.Ordinal)), "the changed config", TimeSpan.FromSeconds(120));
            var (hash2, _, _) = edge.Configs.First(c => c.Body.Contains("# v2", StringComparison.Ordinal));
            Assert.NotEqual(hash1, hash2);
            await WaitForAgentAsync(environment, "acme", edge.UidHex, a => a.GetProperty("remoteConfig").GetProperty("hash").GetString() == hash2
                && a.GetProperty("remoteConfig").GetProperty("status").GetString() == "APPLIED");

            // A config the agent refuses: FAILED with its message, shown by `agents show`.
            var strict = acme.Add(NodeOpAmpAgent.Start(endpoint, AcmeKey, "strict-npm", mode: "fail", failMessage: "unknown component \"foo\""));
            await strict.WaitForAsync(a => a.Configs.Count >= 1, "the strict config");
            await WaitForAgentAsync(environment, "acme", strict.UidHex, a => a.GetProperty("remoteConfig").GetProperty("status").GetString() == "FAILED");
            using (var show = await Otlpctl.RunAsync(environment, "agents", "show", strict.UidHex, "--output", "json", "--storage", azurite.ConnectionString))
            {
                Assert.True(show.ExitCode == 0, show.ToString());
                using var doc = JsonDocument.Parse(show.Stdout);
                var failed = doc.RootElement.GetProperty("remoteConfig");
                Assert.Equal("FAILED", failed.GetProperty("status").GetString());
                Assert.Equal("unknown component \"foo\"", failed.GetProperty("errorMessage").GetString());
                Assert.Equal("strict", failed.GetProperty("name").GetString());
            }

            // Another tenant's key, even with the same UID, sees nothing of acme's and is another agent.
            var other = acme.Add(NodeOpAmpAgent.Start(endpoint, GlobexKey, "globex-npm", uid: edge.Uid));
            await other.WaitForAsync(a => a.Configs.Count >= 1, "globex's config");
            Assert.All(other.Configs, c => Assert.Equal(["globex-default"], c.Names));
            Assert.DoesNotContain(other.Configs, c => c.Body.Contains(AcmeKey, StringComparison.Ordinal));
            var globexListed = await WaitForAgentAsync(environment, "globex", edge.UidHex, a => a.GetProperty("remoteConfig").GetProperty("status").GetString() == "APPLIED");
            Assert.Equal("globex-npm", globexListed.GetProperty("identifyingAttributes").GetProperty("service.name").GetString());
            var acmeAgents = await ListAsync(environment, "acme");
            Assert.Equal(new[] { edge.UidHex, strict.UidHex }.Order(StringComparer.Ordinal), acmeAgents.Select(a => a.GetProperty("instanceUid").GetString()!).Order(StringComparer.Ordinal));
            Assert.Equal("checkout-npm", acmeAgents.Single(a => a.GetProperty("instanceUid").GetString() == edge.UidHex).GetProperty("identifyingAttributes").GetProperty("service.name").GetString());
            using (var ambiguous = await Otlpctl.RunAsync(environment, "agents", "show", edge.UidHex, "--storage", azurite.ConnectionString))
            {
                Assert.True(ambiguous.ExitCode == 2, ambiguous.ToString());
                Assert.Contains("--tenant", ambiguous.Stderr, StringComparison.Ordinal);
            }

            // A key of no tenant is refused: the client never gets a config.
            var stranger = acme.Add(NodeOpAmpAgent.Start(endpoint, "no-such-key-0123456789abcdef", "stranger"));
            await stranger.WaitForAsync(a => a.Events.Any(e => e.GetProperty("event").GetString() == "failed"), "a refused send");
            Assert.Contains("401", stranger.Events.First(e => e.GetProperty("event").GetString() == "failed").GetProperty("error").GetString(), StringComparison.Ordinal);
            Assert.Empty(stranger.Configs);
        }
        finally
        {
            foreach (var agent in acme.Items)
            {
                output.WriteLine(agent.ToString());
            }

            output.WriteLine(dev.ToString());
        }
    }

    [SkippableFact]
    public async Task Npm_client_that_goes_silent_becomes_suspect_then_dead_on_the_gateways_clock()
    {
        string? why = NodeOpAmpAgent.Unavailable();
        Skip.If(why is not null, why);
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var storage = azurite.IsolatedStorage();
        var store = new AgentStore(storage.Tables, storage.Names.Agents);
        await store.EnsureCreatedAsync();
        await using var server = await OpAmpTestServer.StartAsync(store, time: clock);
        using var agent = NodeOpAmpAgent.Start(server.OpAmpUri.ToString(), OpAmpTestServer.AcmeKey, "checkout");
        try
        {
            await agent.WaitForAsync(a => a.Configs.Count >= 1, "its config");
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while ((await store.GetAsync("acme", agent.UidHex))?.RemoteConfigStatus != "APPLIED")
            {
                Assert.True(DateTime.UtcNow < deadline, "APPLIED not stored:\n" + agent);
                await Task.Delay(100);
            }

            await agent.StopAsync();
            var o = server.Options.OpAmp;
            async Task<string> StateAsync()
            {
                var (agents, _) = await store.ListAsync("acme");
                var row = agents.Single(a => a.InstanceUid == agent.UidHex);
                return o.Judge(row.LastSeen, clock.GetUtcNow(), row.Disconnected);
            }

            Assert.Equal(AgentStates.Alive, await StateAsync());
            clock.Advance(o.SuspectAfter);
            Assert.Equal(AgentStates.Suspect, await StateAsync());
            clock.Advance(o.DeadAfter - o.SuspectAfter);
            Assert.Equal(AgentStates.Dead, await StateAsync());
        }
        finally
        {
            output.WriteLine(agent.ToString());
        }
    }

    [Fact]
    public async Task The_agents_table_store_keeps_every_field_and_deletes_only_what_did_not_change()
    {
        var storage = azurite.IsolatedStorage();
        var store = new AgentStore(storage.Tables, storage.Names.Agents);
        await store.EnsureCreatedAsync();
        var seen = new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
        var agent = new AgentRecord
        {
            Tenant = "acme",
            InstanceUid = new string('a', 32),
            IdentifyingAttributes = new Dictionary<string, string> { ["service.name"] = "s", ["ü"] = "\"quoted\"" },
            NonIdentifyingAttributes = new Dictionary<string, string> { ["host.name"] = "h" },
            Capabilities = 0x1007,
            Healthy = false,
            HealthStatus = "StatusRecoverableError",
            HealthLastError = "boom",
            HealthHash = "11",
            EffectiveConfigHash = "22",
            OfferedConfigName = "edge",
            OfferedConfigHash = "33",
            RemoteConfigHash = "33",
            RemoteConfigStatus = "FAILED",
            RemoteConfigError = "bad",
            FirstSeen = seen,
            LastSeen = seen,
        };
        var etag = await store.UpsertAsync(agent);
        var back = (await store.GetAsync("acme", agent.InstanceUid))!;
        Assert.Equal(agent with { ETag = etag, IdentifyingAttributes = back.IdentifyingAttributes, NonIdentifyingAttributes = back.NonIdentifyingAttributes }, back);
        Assert.Equal(agent.IdentifyingAttributes, back.IdentifyingAttributes);
        Assert.Equal(agent.NonIdentifyingAttributes, back.NonIdentifyingAttributes);

        // The same UID in another tenant is another row.
        await store.UpsertAsync(agent with { Tenant = "globex", Healthy = null, HealthStatus = null });
        Assert.Equal(2, (await store.FindAsync(agent.InstanceUid)).Count);
        Assert.Null((await store.GetAsync("globex", agent.InstanceUid))!.Healthy);
        Assert.Equal(1, await store.CountAsync("acme"));

        Assert.True(await store.TouchAsync("acme", agent.InstanceUid, seen.AddMinutes(3)));
        Assert.False(await store.TouchAsync("acme", new string('b', 32), seen));
        var touched = (await store.GetAsync("acme", agent.InstanceUid))!;
        Assert.Equal(seen.AddMinutes(3), touched.LastSeen);
        Assert.Equal("FAILED", touched.RemoteConfigStatus);

        var stale = await store.ListSeenBeforeAsync(seen.AddMinutes(1));
        Assert.Equal("globex", Assert.Single(stale).Tenant);
        Assert.False(await store.DeleteAsync("acme", agent.InstanceUid, etag)); // touched since: kept
        Assert.True(await store.DeleteAsync("acme", agent.InstanceUid, touched.ETag));
        Assert.Null(await store.GetAsync("acme", agent.InstanceUid));
    }

    [Fact]
    public async Task Agents_list_and_show_print_the_contracts_json_and_judge_states_by_the_service_clock()
    {
        var storage = azurite.IsolatedStorage();
        var environment = AzuriteFixture.NameSettings(storage.Names);
        var store = new AgentStore(storage.Tables, storage.Names.Agents);
        await store.EnsureCreatedAsync();
        var now = DateTimeOffset.UtcNow;
        string Uid(char c) => new(c, 32);
        AgentRecord Agent(char c, TimeSpan silent, string tenant = "acme") => new()
        {
            Tenant = tenant,
            InstanceUid = Uid(c),
            IdentifyingAttributes = new Dictionary<string, string> { ["service.name"] = "svc-" + c },
            FirstSeen = now - silent,
            LastSeen = now - silent,
        };
        await store.UpsertAsync(Agent('a', TimeSpan.FromSeconds(10)) with { Healthy = true, HealthStatus = "StatusOK", OfferedConfigName = "edge", OfferedConfigHash = "ab", RemoteConfigHash = "ab", RemoteConfigStatus = "APPLIED" });
        await store.UpsertAsync(Agent('b', TimeSpan.FromMinutes(7)));
        await store.UpsertAsync(Agent('c', TimeSpan.FromMinutes(20)));
        await store.UpsertAsync(Agent('d', TimeSpan.FromDays(2))); // past removal: not shown
        await store.UpsertAsync(Agent('e', TimeSpan.FromSeconds(5), tenant: "globex"));

        using var list = await Otlpctl.RunAsync(environment, "agents", "list", "--tenant", "acme", "--output", "json", "--storage", azurite.ConnectionString);
        Assert.True(list.ExitCode == 0, list.ToString());
        using var doc = JsonDocument.Parse(list.Stdout);
        var agents = doc.RootElement.EnumerateArray().ToList();
        Assert.Equal([Uid('a'), Uid('b'), Uid('c')], agents.Select(a => a.GetProperty("instanceUid").GetString()));
        Assert.Equal(["alive", "suspect", "dead"], agents.Select(a => a.GetProperty("state").GetString()));
        var a = agents[0];
        Assert.True(a.GetProperty("health").GetProperty("healthy").GetBoolean());
        Assert.Equal("StatusOK", a.GetProperty("health").GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Null, agents[1].GetProperty("health").GetProperty("healthy").ValueKind);
        Assert.Equal("APPLIED", a.GetProperty("remoteConfig").GetProperty("status").GetString());
        Assert.Equal("ab", a.GetProperty("remoteConfig").GetProperty("hash").GetString());
        Assert.Equal("UNSET", agents[1].GetProperty("remoteConfig").GetProperty("status").GetString());
        Assert.Equal((now - TimeSpan.FromSeconds(10)).ToUnixTimeMilliseconds(), DateTimeOffset.Parse(a.GetProperty("lastSeen").GetString()!, System.Globalization.CultureInfo.InvariantCulture).ToUnixTimeMilliseconds());

        using var table = await Otlpctl.RunAsync(environment, "agents", "list", "--storage", azurite.ConnectionString);
        Assert.True(table.ExitCode == 0, table.ToString());
        Assert.Contains("svc-e", table.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("svc-d", table.Stdout, StringComparison.Ordinal);

        using var show = await Otlpctl.RunAsync(environment, "agents", "show", new Guid(Convert.FromHexString(Uid('e')), bigEndian: true).ToString(), "--output", "json", "--storage", azurite.ConnectionString);
        Assert.True(show.ExitCode == 0, show.ToString());
        Assert.Equal("globex", JsonDocument.Parse(show.Stdout).RootElement.GetProperty("tenant").GetString());

        using var missing = await Otlpctl.RunAsync(environment, "agents", "show", Uid('f'), "--storage", azurite.ConnectionString);
        Assert.Equal(1, missing.ExitCode);
        using var malformed = await Otlpctl.RunAsync(environment, "agents", "show", "not-a-uid", "--storage", azurite.ConnectionString);
        Assert.Equal(2, malformed.ExitCode);
    }

    private async Task<List<JsonElement>> ListAsync(Dictionary<string, string> environment, string tenant)
    {
        using var list = await Otlpctl.RunAsync(environment, "agents", "list", "--tenant", tenant, "--output", "json", "--storage", azurite.ConnectionString);
        Assert.True(list.ExitCode == 0, list.ToString());
        using var doc = JsonDocument.Parse(list.Stdout);
        return [.. doc.RootElement.EnumerateArray().Select(e => e.Clone())];
    }

    /// <summary>Runs <c>otlpctl agents list --output json</c> until the agent is listed and <paramref name="condition"/> holds.</summary>
    private async Task<JsonElement> WaitForAgentAsync(Dictionary<string, string> environment, string tenant, string uid, Func<JsonElement, bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (true)
        {
            var found = (await ListAsync(environment, tenant)).FirstOrDefault(a => a.GetProperty("instanceUid").GetString() == uid);
            if (found.ValueKind == JsonValueKind.Object && condition(found))
            {
                return found;
            }

            Assert.True(DateTime.UtcNow < deadline, $"agent {uid} of {tenant} not as expected; last seen as {(found.ValueKind == JsonValueKind.Object ? found.GetRawText() : "absent")}");
            await Task.Delay(500);
        }
    }

    private static async Task WaitReadyAsync(ChildProcess dev, int http)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (true)
        {
            Assert.False(dev.HasExited, "otlpctl dev exited:\n" + dev);
            Assert.True(DateTime.UtcNow < deadline, "otlpctl dev not ready:\n" + dev);
            try
            {
                if ((await client.GetAsync($"http://127.0.0.1:{http}/readyz")).StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            await Task.Delay(200);
        }
    }
}

/// <summary>A list whose items are disposed with it.</summary>
internal sealed class DisposableList<T>(List<T> items) : IDisposable
    where T : IDisposable
{
    public IReadOnlyList<T> Items => items;

    public T Add(T item)
    {
        items.Add(item);
        return item;
    }

    public void Dispose()
    {
        foreach (var item in items)
        {
            item.Dispose();
        }
    }
}

internal static class DisposableListExtensions
{
    public static DisposableList<T> AsDisposable<T>(this List<T> items)
        where T : IDisposable => new(items);
}
