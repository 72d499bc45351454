using System.Net;
using System.Text;
using Google.Protobuf;
using Microsoft.Extensions.Time.Testing;
using OpAmp.Proto.V1;
using ServerlessOtlp.Agents;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tests.Infrastructure;
using Xunit.Abstractions;
using static ServerlessOtlp.Tests.Agents.OpAmpTestServer;

namespace ServerlessOtlp.Tests.Agents;

/// <summary>
/// OpAMP over plain HTTP against the real gateway: what agents are told (remote config, full-state requests,
/// new UIDs, connection settings), what is stored (and how rarely), and every hostile input refused.
/// </summary>
public sealed class OpAmpProtocolTests(ITestOutputHelper output)
{
    [Fact]
    public async Task First_report_registers_the_agent_and_gets_its_matching_config_with_placeholders_filled()
    {
        await using var server = await StartAsync();
        var uid = NewUid();
        var (response, reply) = await server.SendAsync(FullState(uid, 1), AcmeKey);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/x-protobuf", response.Content.Headers.ContentType!.ToString());
        Assert.NotNull(reply);
        Assert.Null(reply.ErrorResponse);
        Assert.Equal(uid, reply.InstanceUid.ToByteArray());
        Assert.Equal(0UL, reply.Flags & (ulong)ServerToAgentFlags.ReportFullState);
        Assert.NotEqual(0UL, reply.Capabilities & (ulong)ServerCapabilities.OffersRemoteConfig);
        var file = Assert.Single(reply.RemoteConfig.Config.ConfigMap);
        Assert.Equal("edge", file.Key);
        Assert.Equal("text/yaml", file.Value.ContentType);
        string body = file.Value.Body.ToStringUtf8();
        Assert.Contains($"endpoint: {PublicUrl}", body, StringComparison.Ordinal);
        Assert.Contains($"x-api-key: {AcmeKey}", body, StringComparison.Ordinal);
        Assert.DoesNotContain("${serverlessotlp:", body, StringComparison.Ordinal);
        Assert.Equal(32, reply.RemoteConfig.ConfigHash.Length);

        var stored = await server.Store.GetAsync("acme", Hex(uid));
        Assert.NotNull(stored);
        Assert.Equal("checkout", stored.IdentifyingAttributes["service.name"]);
        Assert.Equal("host-" + Hex(uid)[..6], stored.NonIdentifyingAttributes["host.name"]);
        Assert.Equal("edge", stored.OfferedConfigName);
        Assert.Equal(Convert.ToHexStringLower(reply.RemoteConfig.ConfigHash.Span), stored.OfferedConfigHash);
        Assert.Equal("UNSET", stored.RemoteConfigStatus);

        // Another service gets the tenant's default (empty match).
        var (_, other) = await server.SendAsync(FullState(NewUid(), 1, serviceName: "cart"), AcmeKey);
        Assert.Equal("default", Assert.Single(other!.RemoteConfig.Config.ConfigMap).Key);
    }

    [Fact]
    public async Task Missing_or_wrong_key_is_401_and_nothing_is_stored()
    {
        await using var server = await StartAsync();
        var uid = NewUid();
        foreach (string? key in new[] { null, "not-a-key-of-anyone-0000" })
        {
            var (response, _) = await server.SendAsync(FullState(uid, 1), key);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        Assert.Empty((await server.Store.ListAsync()).Agents);
    }

    [Fact]
    public async Task Failed_authentications_from_one_address_are_throttled_with_429_as_on_OTLP()
    {
        // A clock that does not move: the bucket does not refill however slowly the machine answers.
        await using var server = await StartAsync(time: new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 0, 0, 0, TimeSpan.Zero)));
        var statuses = new List<HttpStatusCode>();
        for (int i = 0; i < ServerlessOtlp.Gateway.Security.AuthFailureLimiter.Burst + 5; i++)
        {
            statuses.Add((await server.SendAsync(FullState(NewUid(), 1), "guessed-key-" + i.ToString("D12"))).Response.StatusCode);
        }

        Assert.Contains(HttpStatusCode.Unauthorized, statuses);
        Assert.Equal(HttpStatusCode.TooManyRequests, statuses[^1]);
        var (throttled, _) = await server.SendAsync(FullState(NewUid(), 1), "guessed-key-again-000");
        Assert.Equal(HttpStatusCode.TooManyRequests, throttled.StatusCode);
        Assert.True(throttled.Headers.RetryAfter?.Delta > TimeSpan.Zero, "Retry-After expected");

        // A known key from the same address still works.
        Assert.Equal(HttpStatusCode.OK, (await server.SendAsync(FullState(NewUid(), 1), AcmeKey)).Response.StatusCode);
    }

    [Fact]
    public async Task Another_tenants_key_sees_nothing_and_the_same_uid_there_is_another_agent()
    {
        await using var server = await StartAsync();
        var uid = NewUid();
        var (_, acme) = await server.SendAsync(FullState(uid, 1), AcmeKey);
        var (_, globex) = await server.SendAsync(FullState(uid, 1, serviceName: "globex-svc"), GlobexKey);

        Assert.Equal("edge", Assert.Single(acme!.RemoteConfig.Config.ConfigMap).Key);
        Assert.Equal("globex-default", Assert.Single(globex!.RemoteConfig.Config.ConfigMap).Key);
        Assert.DoesNotContain(AcmeKey, globex.ToByteString().ToStringUtf8(), StringComparison.Ordinal);

        var acmeAgents = (await server.Store.ListAsync("acme")).Agents;
        var globexAgents = (await server.Store.ListAsync("globex")).Agents;
        Assert.Equal("checkout", Assert.Single(acmeAgents).IdentifyingAttributes["service.name"]);
        Assert.Equal("globex-svc", Assert.Single(globexAgents).IdentifyingAttributes["service.name"]);
    }

    [Fact]
    public async Task Gzip_bodies_are_accepted()
    {
        await using var server = await StartAsync();
        var (response, reply) = await server.SendAsync(FullState(NewUid(), 1), AcmeKey, gzip: true);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Null(reply!.ErrorResponse);
        Assert.NotNull(reply.RemoteConfig);
    }

    [Fact]
    public async Task A_gzip_bomb_is_413_without_being_inflated()
    {
        await using var server = await StartAsync();
        // 64 MiB of zeros compress to ~64 KiB: far under the wire limit, 64 times the decompressed one.
        byte[] bomb;
        {
            var output = new MemoryStream();
            using (var gz = new System.IO.Compression.GZipStream(output, System.IO.Compression.CompressionLevel.SmallestSize, leaveOpen: true))
            {
                var zeros = new byte[1 << 20];
                for (int i = 0; i < 64; i++)
                {
                    gz.Write(zeros);
                }
            }

            bomb = output.ToArray();
        }

        Assert.True(bomb.Length < server.Options.OpAmp.MaxRequestBytes);
        var (response, _) = await server.PostAsync(bomb, AcmeKey, gzip: true);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        await WaitForAsync(() => server.Budget.Used == 0, "the request's memory given back");
        Assert.Empty((await server.Store.ListAsync()).Agents);
    }

    [Fact]
    public async Task A_body_over_the_limit_is_413_whether_announced_or_chunked()
    {
        await using var server = await StartAsync();
        var big = FullState(NewUid(), 1);
        big.AgentDescription.NonIdentifyingAttributes.Add(Attribute("padding", new string('x', server.Options.OpAmp.MaxRequestBytes)));
        byte[] body = big.ToByteArray();

        var (announced, _) = await server.PostAsync(body, AcmeKey);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, announced.StatusCode);

        var (chunked, _) = await server.PostAsync(body, AcmeKey, tweak: r =>
        {
            var content = new StreamContent(new MemoryStream(body));
            content.Headers.ContentType = r.Content!.Headers.ContentType;
            r.Content = content;
            r.Headers.TransferEncodingChunked = true;
        });
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, chunked.StatusCode);
        Assert.Empty((await server.Store.ListAsync()).Agents);
    }

    [Fact]
    public async Task A_malformed_message_is_200_with_error_response_BAD_REQUEST_addressed_by_the_header_uid()
    {
        int seed = TestSeed.Pick(output);
        var random = new Random(seed);
        await using var server = await StartAsync();
        var uid = NewUid();
        for (int i = 0; i < 20; i++)
        {
            var garbage = new byte[random.Next(1, 300)];
            random.NextBytes(garbage);
            try
            {
                AgentToServer.Parser.ParseFrom(garbage);
                continue; // by chance a valid message: not what this test sends
            }
            catch (InvalidProtocolBufferException)
            {
            }

            var (response, reply) = await server.PostAsync(garbage, AcmeKey, tweak: r => r.Headers.Add("OpAMP-Instance-UID", new Guid(uid, bigEndian: true).ToString()));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("application/x-protobuf", response.Content.Headers.ContentType!.ToString());
            Assert.Equal(ServerErrorResponseType.BadRequest, reply!.ErrorResponse.Type);
            Assert.Equal(uid, reply.InstanceUid.ToByteArray());
        }

        Assert.Empty((await server.Store.ListAsync()).Agents);
    }

    [Fact]
    public async Task Wrong_uid_length_too_many_attributes_and_a_contradicting_header_are_BAD_REQUEST()
    {
        await using var server = await StartAsync();
        var shortUid = FullState(NewUid(), 1);
        shortUid.InstanceUid = ByteString.CopyFrom(new byte[8]);
        Assert.Equal(ServerErrorResponseType.BadRequest, (await server.SendAsync(shortUid, AcmeKey)).Reply!.ErrorResponse.Type);

        var crowded = FullState(NewUid(), 1);
        for (int i = 0; i < ServerlessOtlp.Gateway.Agents.OpAmpLimits.MaxAttributes + 1; i++)
        {
            crowded.AgentDescription.NonIdentifyingAttributes.Add(Attribute("a" + i, "v"));
        }

        var (status, reply) = await server.SendAsync(crowded, AcmeKey);
        Assert.Equal(HttpStatusCode.OK, status.StatusCode);
        Assert.Equal(ServerErrorResponseType.BadRequest, reply!.ErrorResponse.Type);
        Assert.Contains("exceed", reply.ErrorResponse.ErrorMessage, StringComparison.Ordinal);

        var uid = NewUid();
        var (_, contradicted) = await server.SendAsync(FullState(uid, 1), AcmeKey, tweak: r => r.Headers.Add("OpAMP-Instance-UID", Guid.CreateVersion7().ToString()));
        Assert.Equal(ServerErrorResponseType.BadRequest, contradicted!.ErrorResponse.Type);
        Assert.Empty((await server.Store.ListAsync()).Agents);
    }

    [Fact]
    public async Task RequestInstanceUid_is_answered_with_a_new_16_byte_uid_and_a_full_state_request()
    {
        await using var server = await StartAsync();
        var old = NewUid();
        var ask = FullState(old, 1);
        ask.Flags = (ulong)AgentToServerFlags.RequestInstanceUid;
        var (_, reply) = await server.SendAsync(ask, AcmeKey);
        Assert.Null(reply!.ErrorResponse);
        Assert.Equal(old, reply.InstanceUid.ToByteArray());
        var fresh = reply.AgentIdentification.NewInstanceUid.ToByteArray();
        Assert.Equal(16, fresh.Length);
        Assert.NotEqual(old, fresh);
        Assert.Equal(7, fresh[6] >> 4); // UUID version 7
        Assert.NotEqual(0UL, reply.Flags & (ulong)ServerToAgentFlags.ReportFullState);
        Assert.Null(await server.Store.GetAsync("acme", Hex(old)));

        // The agent goes on under its new UID.
        var (_, next) = await server.SendAsync(FullState(fresh, 2), AcmeKey);
        Assert.Null(next!.ErrorResponse);
        Assert.NotNull(await server.Store.GetAsync("acme", Hex(fresh)));
    }

    [Fact]
    public async Task A_missed_sequence_number_is_answered_with_ReportFullState_and_a_full_report_clears_it()
    {
        await using var server = await StartAsync();
        var uid = NewUid();
        Assert.Equal(0UL, (await server.SendAsync(FullState(uid, 1), AcmeKey)).Reply!.Flags);
        Assert.Equal(0UL, (await server.SendAsync(Heartbeat(uid, 2), AcmeKey)).Reply!.Flags);
        var gap = (await server.SendAsync(Heartbeat(uid, 4), AcmeKey)).Reply!;
        Assert.NotEqual(0UL, gap.Flags & (ulong)ServerToAgentFlags.ReportFullState);
        Assert.Equal(0UL, (await server.SendAsync(FullState(uid, 5), AcmeKey)).Reply!.Flags);
        Assert.Equal(0UL, (await server.SendAsync(Heartbeat(uid, 6), AcmeKey)).Reply!.Flags);
    }

    [Fact]
    public async Task Polls_moving_to_another_replica_get_a_full_state_request_there_and_cost_no_write_when_nothing_changed()
    {
        var store = new InMemoryAgentStore();
        await using var a = await StartAsync(store);
        await using var b = await StartAsync(store);
        var uid = NewUid();
        await a.SendAsync(FullState(uid, 1), AcmeKey);
        await a.SendAsync(Heartbeat(uid, 2), AcmeKey);

        var moved = (await b.SendAsync(Heartbeat(uid, 3), AcmeKey)).Reply!;
        Assert.NotEqual(0UL, moved.Flags & (ulong)ServerToAgentFlags.ReportFullState);
        long before = b.Metrics.StorageOperationsTotal;
        var full = (await b.SendAsync(FullState(uid, 4), AcmeKey)).Reply!;
        Assert.Equal(0UL, full.Flags);
        Assert.Equal(before, b.Metrics.StorageOperationsTotal); // same description, same state: nothing written
        Assert.Single((await store.ListAsync("acme")).Agents);
    }

    [Fact]
    public async Task Health_and_effective_config_are_stored_and_only_changes_are_written()
    {
        await using var server = await StartAsync();
        var uid = NewUid();
        await server.SendAsync(FullState(uid, 1), AcmeKey);

        AgentToServer WithHealth(ulong seq, bool healthy, string status, params string[] components)
        {
            var m = Heartbeat(uid, seq);
            m.Health = new ComponentHealth { Healthy = healthy, Status = status, LastError = healthy ? "" : "exporter failing", StartTimeUnixNano = 1000 };
            foreach (var c in components)
            {
                m.Health.ComponentHealthMap[c] = new ComponentHealth { Healthy = healthy, Status = "StatusOK" };
            }

            m.EffectiveConfig = new EffectiveConfig { ConfigMap = new AgentConfigMap() };
            foreach (var c in components)
            {
                m.EffectiveConfig.ConfigMap.ConfigMap[c] = new AgentConfigFile { Body = ByteString.CopyFromUtf8("k: " + c), ContentType = "text/yaml" };
            }

            return m;
        }

        await server.SendAsync(WithHealth(2, false, "StatusRecoverableError", "pipeline:traces", "exporter:otlphttp"), AcmeKey);
        var stored = (await server.Store.GetAsync("acme", Hex(uid)))!;
        Assert.False(stored.Healthy);
        Assert.Equal("StatusRecoverableError", stored.HealthStatus);
        Assert.Equal("exporter failing", stored.HealthLastError);
        Assert.Matches("^[0-9a-f]{64}$", stored.EffectiveConfigHash!);

        // The same report with its maps in another order (a Go agent's map order is random): no write.
        long writes = server.Metrics.StorageOperationsTotal;
        await server.SendAsync(WithHealth(3, false, "StatusRecoverableError", "exporter:otlphttp", "pipeline:traces"), AcmeKey);
        Assert.Equal(writes, server.Metrics.StorageOperationsTotal);
        Assert.Equal(stored.EffectiveConfigHash, (await server.Store.GetAsync("acme", Hex(uid)))!.EffectiveConfigHash);

        await server.SendAsync(WithHealth(4, true, "StatusOK", "pipeline:traces"), AcmeKey);
        Assert.Equal(writes + 1, server.Metrics.StorageOperationsTotal);
        var healed = (await server.Store.GetAsync("acme", Hex(uid)))!;
        Assert.True(healed.Healthy);
        Assert.NotEqual(stored.EffectiveConfigHash, healed.EffectiveConfigHash);
    }

    [Fact]
    public async Task The_config_is_sent_while_the_agents_hash_differs_and_a_FAILED_status_is_stored_and_not_answered_with_a_resend()
    {
        await using var server = await StartAsync();
        var uid = NewUid();
        var first = (await server.SendAsync(FullState(uid, 1), AcmeKey)).Reply!;
        var hash = first.RemoteConfig.ConfigHash;
        Assert.NotNull((await server.SendAsync(Heartbeat(uid, 2), AcmeKey)).Reply!.RemoteConfig); // not acknowledged yet: sent again

        var failed = Heartbeat(uid, 3);
        failed.RemoteConfigStatus = new RemoteConfigStatus { LastRemoteConfigHash = hash, Status = RemoteConfigStatuses.Failed, ErrorMessage = "unknown exporter \"otlphttp\"" };
        Assert.Null((await server.SendAsync(failed, AcmeKey)).Reply!.RemoteConfig);
        Assert.Null((await server.SendAsync(Heartbeat(uid, 4), AcmeKey)).Reply!.RemoteConfig);
        var stored = (await server.Store.GetAsync("acme", Hex(uid)))!;
        Assert.Equal("FAILED", stored.RemoteConfigStatus);
        Assert.Equal("unknown exporter \"otlphttp\"", stored.RemoteConfigError);
        Assert.Equal(Convert.ToHexStringLower(hash.Span), stored.RemoteConfigHash);

        // A changed file reaches the agent on its next exchange.
        var changed = DefaultTenants();
        var acme = changed.Tenants[0];
        var edge = acme.Agents!.Configs[0] with { Body = EdgeBody + "# v2\n" };
        server.Tenants.Replace(changed with { Tenants = [acme with { Agents = acme.Agents with { Configs = [edge, acme.Agents.Configs[1]] } }, changed.Tenants[1]] });
        var resent = (await server.SendAsync(Heartbeat(uid, 5), AcmeKey)).Reply!.RemoteConfig;
        Assert.NotNull(resent);
        Assert.NotEqual(hash, resent.ConfigHash);
        Assert.EndsWith("# v2\n", resent.Config.ConfigMap["edge"].Body.ToStringUtf8(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connection_settings_offer_the_heartbeat_and_own_telemetry_at_the_public_url_under_the_tenants_key()
    {
        await using var server = await StartAsync();
        ulong caps = Capabilities | (ulong)(AgentCapabilities.AcceptsOpAmpconnectionSettings | AgentCapabilities.ReportsOwnMetrics | AgentCapabilities.ReportsOwnLogs);
        var reply = (await server.SendAsync(FullState(NewUid(), 1, capabilities: caps), AcmeKey)).Reply!;
        var offers = reply.ConnectionSettings;
        Assert.NotNull(offers);
        Assert.Equal(PublicUrl + "/v1/opamp", offers.Opamp.DestinationEndpoint);
        Assert.Equal(30UL, offers.Opamp.HeartbeatIntervalSeconds);
        Assert.Contains(offers.Opamp.Headers.Headers_, h => h.Key == "Authorization" && h.Value == "Bearer " + AcmeKey);
        Assert.Equal(PublicUrl + "/v1/metrics", offers.OwnMetrics.DestinationEndpoint);
        Assert.Equal(PublicUrl + "/v1/logs", offers.OwnLogs.DestinationEndpoint);
        Assert.Null(offers.OwnTraces);
        Assert.Equal(32, offers.Hash.Length);

        // Heartbeats carry no offers; an agent that accepts none gets none.
        Assert.Null((await server.SendAsync(Heartbeat(reply.InstanceUid.ToByteArray(), 2, caps), AcmeKey)).Reply!.ConnectionSettings);
        Assert.Null((await server.SendAsync(FullState(NewUid(), 1), AcmeKey)).Reply!.ConnectionSettings);
    }

    [Fact]
    public async Task A_new_agent_over_the_tenants_quota_is_429_while_known_agents_keep_being_served()
    {
        await using var server = await StartAsync(tenants: DefaultTenants(acmeMaxAgents: 2));
        var first = NewUid();
        var second = NewUid();
        Assert.Null((await server.SendAsync(FullState(first, 1), AcmeKey)).Reply!.ErrorResponse);
        Assert.Null((await server.SendAsync(FullState(second, 1), AcmeKey)).Reply!.ErrorResponse);

        var (refused, reply) = await server.SendAsync(FullState(NewUid(), 1), AcmeKey);
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.True(refused.Headers.RetryAfter?.Delta >= TimeSpan.FromMinutes(1));
        Assert.Contains("quota of 2 agents", reply!.ErrorResponse.ErrorMessage, StringComparison.Ordinal);

        Assert.Equal(HttpStatusCode.OK, (await server.SendAsync(Heartbeat(first, 2), AcmeKey)).Response.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await server.SendAsync(FullState(NewUid(), 1), GlobexKey)).Response.StatusCode); // another tenant's quota
        Assert.Equal(2, (await server.Store.ListAsync("acme")).Agents.Count);
    }

    [Fact]
    public async Task A_full_in_flight_budget_is_503_with_Retry_After()
    {
        await using var server = await StartAsync(configure: o => o.InFlightBudgetBytes = 64 * 1024);
        Assert.True(server.Budget.TryReserve("someone-else", 64 * 1024));
        try
        {
            var (response, _) = await server.SendAsync(FullState(NewUid(), 1), AcmeKey);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.True(response.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        }
        finally
        {
            server.Budget.Release("someone-else", 64 * 1024);
        }

        Assert.Equal(HttpStatusCode.OK, (await server.SendAsync(FullState(NewUid(), 1), AcmeKey)).Response.StatusCode);
    }

    [Fact]
    public async Task An_unreachable_agents_store_is_503_with_Retry_After()
    {
        await using var server = await StartAsync(new FailingAgentStore());
        var (response, _) = await server.SendAsync(FullState(NewUid(), 1), AcmeKey);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.True(response.Headers.RetryAfter?.Delta > TimeSpan.Zero);
    }

    [Fact]
    public async Task Last_seen_is_written_at_most_once_per_interval_and_a_30s_poller_never_shows_suspect()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 0, 0, 0, TimeSpan.Zero));
        var store = new CountingAgentStore(new InMemoryAgentStore(clock));
        await using var server = await StartAsync(store, time: clock);
        var liveness = server.Options.OpAmp;
        var uid = NewUid();
        await server.SendAsync(FullState(uid, 1), AcmeKey);
        int writesAfterRegistration = store.Writes;

        var states = new HashSet<string>();
        var span = TimeSpan.FromMinutes(30);
        ulong seq = 2;
        for (var elapsed = TimeSpan.Zero; elapsed < span; elapsed += TimeSpan.FromSeconds(30))
        {
            clock.Advance(TimeSpan.FromSeconds(30));
            await server.SendAsync(Heartbeat(uid, seq++), AcmeKey);
            await server.Registry.FlushAsync(); // last-seen is written behind the answer
            var row = (await store.GetAsync("acme", Hex(uid)))!;
            states.Add(liveness.Judge(row.LastSeen, clock.GetUtcNow()));
        }

        int touches = store.Writes - writesAfterRegistration;
        output.WriteLine($"{seq - 2} heartbeats in {span}: {touches} last-seen writes");
        Assert.Equal([AgentStates.Alive], states);
        // At most one per interval (spread over its last quarter), at least one per interval.
        Assert.InRange(touches, (int)(span / liveness.LastSeenWriteInterval) - 1, (int)(span / (liveness.LastSeenWriteInterval * 0.75)) + 1);
    }

    [Fact]
    public async Task A_silent_agent_becomes_suspect_then_dead_is_removed_after_a_day_and_is_alive_again_when_it_returns()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 0, 0, 0, TimeSpan.Zero));
        var store = new InMemoryAgentStore(clock);
        await using var server = await StartAsync(store, time: clock);
        var o = server.Options.OpAmp;
        var uid = NewUid();
        await server.SendAsync(FullState(uid, 1), AcmeKey);

        string State() => o.Judge(store.GetAsync("acme", Hex(uid)).Result!.LastSeen, clock.GetUtcNow(), store.GetAsync("acme", Hex(uid)).Result!.Disconnected);
        Assert.Equal(AgentStates.Alive, State());
        clock.Advance(o.SuspectAfter - TimeSpan.FromSeconds(1));
        Assert.Equal(AgentStates.Alive, State());
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(AgentStates.Suspect, State());
        clock.Advance(o.DeadAfter - o.SuspectAfter);
        Assert.Equal(AgentStates.Dead, State());

        // It comes back: alive at once (the poll's last-seen is written, behind the answer).
        await server.SendAsync(Heartbeat(uid, 2), AcmeKey);
        await server.Registry.FlushAsync();
        Assert.Equal(AgentStates.Alive, State());

        // Silent for a day: the sweep removes it; a sweep before that keeps it.
        var sweep = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetServices<Microsoft.Extensions.Hosting.IHostedService>(server.App.Services)
            .OfType<ServerlessOtlp.Gateway.Agents.AgentSweep>().Single();
        clock.Advance(o.RemoveAfter - TimeSpan.FromMinutes(1));
        Assert.Equal(0, await sweep.SweepOnceAsync());
        clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(1, await sweep.SweepOnceAsync());
        Assert.Null(await store.GetAsync("acme", Hex(uid)));

        // Returning after removal: asked for its full state, then registered again.
        var reply = (await server.SendAsync(Heartbeat(uid, 3), AcmeKey)).Reply!;
        Assert.NotEqual(0UL, reply.Flags & (ulong)ServerToAgentFlags.ReportFullState);
        await server.SendAsync(FullState(uid, 4), AcmeKey);
        Assert.Equal(AgentStates.Alive, State());
    }

    [Fact]
    public async Task An_agent_that_disconnects_is_dead_until_it_polls_again()
    {
        await using var server = await StartAsync();
        var uid = NewUid();
        await server.SendAsync(FullState(uid, 1), AcmeKey);
        var bye = Heartbeat(uid, 2);
        bye.AgentDisconnect = new AgentDisconnect();
        await server.SendAsync(bye, AcmeKey);
        var row = (await server.Store.GetAsync("acme", Hex(uid)))!;
        Assert.Equal(AgentStates.Dead, server.Options.OpAmp.Judge(row.LastSeen, row.LastSeen, row.Disconnected));
        await server.SendAsync(Heartbeat(uid, 3), AcmeKey);
        row = (await server.Store.GetAsync("acme", Hex(uid)))!;
        Assert.Equal(AgentStates.Alive, server.Options.OpAmp.Judge(row.LastSeen, row.LastSeen, row.Disconnected));
    }

    [Fact]
    public async Task Other_methods_and_content_types_are_refused()
    {
        await using var server = await StartAsync();
        using var client = server.Client();
        var get = await client.GetAsync(server.OpAmpUri);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, get.StatusCode);
        using var json = new StringContent("{}", Encoding.UTF8, "application/json");
        json.Headers.Add("x-api-key", AcmeKey);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await client.PostAsync(server.OpAmpUri, json)).StatusCode);
    }

    /// <summary>Waits for something the server does after it answered (real time, bounded).</summary>
    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, what + " did not happen");
            await Task.Delay(20);
        }
    }

    /// <summary>Counts writes (upserts and last-seen merges) to the store it wraps.</summary>
    private sealed class CountingAgentStore(IAgentStore inner) : IAgentStore
    {
        private int _writes;

        public int Writes => Volatile.Read(ref _writes);

        public Task EnsureCreatedAsync(CancellationToken cancellationToken = default) => inner.EnsureCreatedAsync(cancellationToken);

        public Task<AgentRecord?> GetAsync(string tenant, string instanceUid, CancellationToken cancellationToken = default) => inner.GetAsync(tenant, instanceUid, cancellationToken);

        public Task<Azure.ETag> UpsertAsync(AgentRecord agent, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _writes);
            return inner.UpsertAsync(agent, cancellationToken);
        }

        public Task<bool> TouchAsync(string tenant, string instanceUid, DateTimeOffset lastSeen, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _writes);
            return inner.TouchAsync(tenant, instanceUid, lastSeen, cancellationToken);
        }

        public Task<(IReadOnlyList<AgentRecord> Agents, DateTimeOffset Now)> ListAsync(string? tenant = null, CancellationToken cancellationToken = default) => inner.ListAsync(tenant, cancellationToken);

        public Task<IReadOnlyList<AgentRecord>> FindAsync(string instanceUid, CancellationToken cancellationToken = default) => inner.FindAsync(instanceUid, cancellationToken);

        public Task<int> CountAsync(string tenant, CancellationToken cancellationToken = default) => inner.CountAsync(tenant, cancellationToken);

        public Task<IReadOnlyList<AgentRecord>> ListSeenBeforeAsync(DateTimeOffset cutoff, CancellationToken cancellationToken = default) => inner.ListSeenBeforeAsync(cutoff, cancellationToken);

        public Task<bool> DeleteAsync(string tenant, string instanceUid, Azure.ETag etag, CancellationToken cancellationToken = default) => inner.DeleteAsync(tenant, instanceUid, etag, cancellationToken);
    }

    private sealed class FailingAgentStore : IAgentStore
    {
        private static Exception Down() => new Azure.RequestFailedException(503, "storage is down");

        public Task EnsureCreatedAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;

        public Task<AgentRecord?> GetAsync(string tenant, string instanceUid, CancellationToken cancellationToken = default) => Task.FromException<AgentRecord?>(Down());

        public Task<Azure.ETag> UpsertAsync(AgentRecord agent, CancellationToken cancellationToken = default) => Task.FromException<Azure.ETag>(Down());

        public Task<bool> TouchAsync(string tenant, string instanceUid, DateTimeOffset lastSeen, CancellationToken cancellationToken = default) => Task.FromException<bool>(Down());

        public Task<(IReadOnlyList<AgentRecord> Agents, DateTimeOffset Now)> ListAsync(string? tenant = null, CancellationToken cancellationToken = default) => Task.FromException<(IReadOnlyList<AgentRecord>, DateTimeOffset)>(Down());

        public Task<IReadOnlyList<AgentRecord>> FindAsync(string instanceUid, CancellationToken cancellationToken = default) => Task.FromException<IReadOnlyList<AgentRecord>>(Down());

        public Task<int> CountAsync(string tenant, CancellationToken cancellationToken = default) => Task.FromException<int>(Down());

        public Task<IReadOnlyList<AgentRecord>> ListSeenBeforeAsync(DateTimeOffset cutoff, CancellationToken cancellationToken = default) => Task.FromException<IReadOnlyList<AgentRecord>>(Down());

        public Task<bool> DeleteAsync(string tenant, string instanceUid, Azure.ETag etag, CancellationToken cancellationToken = default) => Task.FromException<bool>(Down());
    }
}
