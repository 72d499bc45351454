using System.Collections.Concurrent;
using System.Security.Cryptography;
using Google.Protobuf;
using OpAmp.Proto.V1;
using ServerlessOtlp.Agents;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Gateway.Agents;

/// <summary>What one exchange produced: the answer, or the refusal of a new agent over its tenant's quota.</summary>
internal readonly record struct AgentExchange(ServerToAgent Answer, string? QuotaRefusal = null);

/// <summary>
/// The OpAMP server's logic on one replica. The agents table is the source of truth; this replica keeps, per
/// agent it hears from, the last sequence number and what it knows the table holds, so that a poll costs no
/// storage call unless the agent's reported state changed (a write) or its coarse last-seen is due (one small
/// merge per <see cref="AgentLivenessOptions.LastSeenWriteInterval"/>). An agent whose polls move between
/// replicas shows each one a sequence gap: that replica reads the row once and asks for <c>ReportFullState</c>,
/// which costs a larger message, never a write when nothing changed.
/// </summary>
internal sealed class AgentRegistry
{
    /// <summary>What this server does (ServerCapabilities): status, effective config and remote config in; connection settings out.</summary>
    public const ulong ServerCapabilityBits =
        (ulong)(ServerCapabilities.AcceptsStatus | ServerCapabilities.OffersRemoteConfig
                | ServerCapabilities.AcceptsEffectiveConfig | ServerCapabilities.OffersConnectionSettings);

    private readonly IAgentStore _store;
    private readonly OpAmpOptions _options;
    private readonly TimeProvider _time;
    private readonly OpAmpMetrics _metrics;
    private readonly ILogger _log;
    private readonly ConcurrentDictionary<(string Tenant, string Uid), AgentSession> _sessions = new();
    private readonly ConcurrentDictionary<string, TenantCount> _counts = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _touchGate = new(MaxConcurrentTouches);
    private int _evicting;
    private int _pendingTouches;

    public AgentRegistry(IAgentStore store, OpAmpOptions options, TimeProvider time, OpAmpMetrics metrics, ILogger<AgentRegistry> log)
    {
        options.Validate();
        _store = store;
        _options = options;
        _time = time;
        _metrics = metrics;
        _log = log;
    }

    public IAgentStore Store => _store;

    /// <summary>Agents this replica holds in memory.</summary>
    public int CachedAgents => _sessions.Count;

    /// <summary>
    /// What the reply offers the agent: the remote config its attributes select (sent while the agent's hash
    /// differs), and with a full state report the connection settings; returns the agent's state with the offer noted.
    /// </summary>
    private AgentRecord Offer(ServerToAgent reply, AgentRecord next, TenantConfig tenant, string endpoint, string apiKey, bool full)
    {
        if (AgentConfigSelector.Select(tenant.Agents, AgentState.Merged(next), endpoint, tenant.Id, apiKey) is { } selected)
        {
            string hash = Convert.ToHexStringLower(selected.Hash);
            next = next with { OfferedConfigName = selected.Entry.Name, OfferedConfigHash = hash };
            if ((next.Capabilities & (long)AgentCapabilities.AcceptsRemoteConfig) != 0 && next.RemoteConfigHash != hash)
            {
                reply.RemoteConfig = Render(selected, endpoint, apiKey, tenant.Id);
            }
        }

        if (full && Offers(next.Capabilities, endpoint, apiKey) is { } offers)
        {
            reply.ConnectionSettings = offers;
        }

        return next;
    }

    /// <summary>
    /// Handles one AgentToServer for an authenticated tenant. Store failures on the read of an agent not yet
    /// known here propagate (the caller answers 503); a failed write is logged and retried on the next poll.
    /// </summary>
    public async Task<AgentExchange> ExchangeAsync(TenantConfig tenant, string apiKey, string endpoint, AgentToServer message, CancellationToken cancellationToken)
    {
        var reply = new ServerToAgent { InstanceUid = message.InstanceUid, Capabilities = ServerCapabilityBits };
        if ((message.Flags & (ulong)AgentToServerFlags.RequestInstanceUid) != 0)
        {
            // Nothing is recorded under the old UID: the agent reports its full state under the new one.
            reply.AgentIdentification = new AgentIdentification { NewInstanceUid = ByteString.CopyFrom(Guid.CreateVersion7().ToByteArray(bigEndian: true)) };
            reply.Flags |= (ulong)ServerToAgentFlags.ReportFullState;
            return new(reply);
        }

        if (message.InstanceUid.Length != 16)
        {
            return new(BadRequest(reply, $"instance_uid must be 16 bytes (a UUID), got {message.InstanceUid.Length}; set the RequestInstanceUid flag to be given one"));
        }

        Dictionary<string, string>? identifying = null, nonIdentifying = null;
        if (message.AgentDescription is { } description)
        {
            identifying = AgentState.Attributes(description.IdentifyingAttributes, "identifying_attributes", out var problem)
                ?? throw new BadAgentMessageException(problem!);
            nonIdentifying = AgentState.Attributes(description.NonIdentifyingAttributes, "non_identifying_attributes", out problem)
                ?? throw new BadAgentMessageException(problem!);
        }

        string uid = Convert.ToHexStringLower(message.InstanceUid.Span);
        var session = _sessions.GetOrAdd((tenant.Id, uid), _ => new AgentSession());
        await session.Gate.WaitAsync(cancellationToken);
        try
        {
            var now = _time.GetUtcNow();
            session.LastActivity = now;
            if (!session.Loaded)
            {
                _metrics.Storage("read");
                session.Stored = await _store.GetAsync(tenant.Id, uid, cancellationToken);
                session.LastSeenWritten = session.Stored?.LastSeen ?? DateTimeOffset.MinValue;
                session.Loaded = true;
            }

            var before = session.Stored;
            if (before is null && !session.Admitted)
            {
                if (!await TryAdmitAsync(tenant, cancellationToken))
                {
                    _sessions.TryRemove((tenant.Id, uid), out _);
                    return new(reply, $"tenant {tenant.Id} has reached its quota of {MaxAgents(tenant)} agents; dead agents are removed {_options.RemoveAfter} after they were last seen");
                }

                session.Admitted = true;
            }

            bool full = message.AgentDescription is not null;
            bool gap = session.LastSequence is not { } last || message.SequenceNum != last + 1;
            session.LastSequence = message.SequenceNum;
            if (!full && (gap || before is null))
            {
                // This replica missed messages (or never saw the agent): the table has what was stored, the agent the rest.
                reply.Flags |= (ulong)ServerToAgentFlags.ReportFullState;
            }

            var next = Offer(reply, Merge(before, tenant.Id, uid, now, message, identifying, nonIdentifying), tenant, endpoint, apiKey, full);
            await PersistAsync(session, before, next, now, cancellationToken);
            return new(reply);
        }
        finally
        {
            session.Gate.Release();
            if (_sessions.Count > _options.MaxCachedAgents)
            {
                Evict();
            }
        }
    }

    /// <summary>Forgets an agent this replica cached (the sweep removed its row).</summary>
    internal void Forget(string tenant, string uid)
    {
        _sessions.TryRemove((tenant, uid), out _);
        if (_counts.TryGetValue(tenant, out var count))
        {
            Interlocked.Decrement(ref count.Count);
        }
    }

    public static ServerToAgent BadRequest(ServerToAgent reply, string message)
    {
        reply.ErrorResponse = new ServerErrorResponse { Type = ServerErrorResponseType.BadRequest, ErrorMessage = message };
        return reply;
    }

    private static AgentRecord Merge(AgentRecord? before, string tenant, string uid, DateTimeOffset now, AgentToServer message,
        Dictionary<string, string>? identifying, Dictionary<string, string>? nonIdentifying)
    {
        var next = (before ?? new AgentRecord { Tenant = tenant, InstanceUid = uid, FirstSeen = now })
            with { LastSeen = now, Disconnected = message.AgentDisconnect is not null };
        if (identifying is not null)
        {
            next = next with { IdentifyingAttributes = identifying, NonIdentifyingAttributes = nonIdentifying! };
        }

        if (message.Capabilities != 0)
        {
            next = next with { Capabilities = (long)message.Capabilities };
        }

        if (message.Health is { } health)
        {
            next = next with
            {
                Healthy = health.Healthy,
                HealthStatus = AgentState.Cut(health.Status),
                HealthLastError = AgentState.Cut(health.LastError),
                HealthHash = AgentState.HealthHash(health),
            };
        }

        if (message.EffectiveConfig is { } effective)
        {
            next = next with { EffectiveConfigHash = AgentState.EffectiveConfigHash(effective) };
        }

        if (message.RemoteConfigStatus is { } status)
        {
            next = next with
            {
                RemoteConfigHash = status.LastRemoteConfigHash.IsEmpty ? null : Convert.ToHexStringLower(status.LastRemoteConfigHash.Span),
                RemoteConfigStatus = AgentState.StatusName(status.Status),
                RemoteConfigError = string.IsNullOrEmpty(status.ErrorMessage) ? null : AgentState.Cut(status.ErrorMessage),
            };
        }

        return next;
    }

    /// <summary>Writes a changed state at once; otherwise only the coarse last-seen, when due.</summary>
    private async Task PersistAsync(AgentSession session, AgentRecord? before, AgentRecord next, DateTimeOffset now, CancellationToken cancellationToken)
    {
        try
        {
            if (before is null || !AgentState.SameState(before, next))
            {
                _metrics.Storage(before is null ? "insert" : "update");
                var etag = await _store.UpsertAsync(next, cancellationToken);
                session.Stored = next with { ETag = etag };
                session.LastSeenWritten = now;
            }
            else if (now - session.LastSeenWritten >= LastSeenDue(next.InstanceUid))
            {
                session.Stored = next;
                ScheduleTouch(session, next, now);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The agent still gets its answer; what was not written is written on its next poll.
            _metrics.Storage("failed");
            _log.LogWarning("agents table write failed for an agent of tenant {Tenant}: {Error}", next.Tenant, ex.Message);
        }
    }

    /// <summary>
    /// Writes a due last-seen time behind the answer: nothing the agent is told depends on it, and a poll must
    /// not wait for the table (a slow store would otherwise slow every heartbeat of the fleet). At most
    /// <see cref="MaxConcurrentTouches"/> run at once and <see cref="OpAmpOptions.MaxCachedAgents"/> wait;
    /// past that a touch is left for the agent's next poll. One that fails is retried on the next poll; a row
    /// gone meanwhile (the sweep) makes the next poll read the table again and ask for the agent's full state.
    /// </summary>
    private void ScheduleTouch(AgentSession session, AgentRecord agent, DateTimeOffset now)
    {
        if (Interlocked.Increment(ref _pendingTouches) > _options.MaxCachedAgents)
        {
            Interlocked.Decrement(ref _pendingTouches);
            _metrics.Storage("touch_deferred");
            return;
        }

        var previous = session.LastSeenWritten;
        session.LastSeenWritten = now;
        _ = Task.Run(async () =>
        {
            await _touchGate.WaitAsync();
            try
            {
                _metrics.Storage("touch");
                if (!await _store.TouchAsync(agent.Tenant, agent.InstanceUid, now))
                {
                    await ResetAsync(session, forget: true, previous);
                }
            }
            catch (Exception ex)
            {
                _metrics.Storage("failed");
                _log.LogWarning("agents table last-seen write failed for an agent of tenant {Tenant}: {Error}", agent.Tenant, ex.Message);
                await ResetAsync(session, forget: false, previous);
            }
            finally
            {
                _touchGate.Release();
                Interlocked.Decrement(ref _pendingTouches);
            }
        });
    }

    private static async Task ResetAsync(AgentSession session, bool forget, DateTimeOffset lastSeenWritten)
    {
        await session.Gate.WaitAsync();
        try
        {
            session.LastSeenWritten = lastSeenWritten;
            if (forget)
            {
                session.Loaded = false;
                session.LastSequence = null;
            }
        }
        finally
        {
            session.Gate.Release();
        }
    }

    /// <summary>Waits until no last-seen write is pending (tests, and a graceful stop).</summary>
    public async Task FlushAsync(CancellationToken cancellationToken = default)
    {
        while (Volatile.Read(ref _pendingTouches) > 0)
        {
            await Task.Delay(5, cancellationToken);
        }
    }

    /// <summary>Last-seen writes this replica runs against the table at once.</summary>
    public const int MaxConcurrentTouches = 32;

    /// <summary>The last-seen interval, spread over its last quarter by the UID so that a fleet started together does not write together.</summary>
    private TimeSpan LastSeenDue(string uid)
    {
        double spread = (uint)uid.GetHashCode(StringComparison.Ordinal) % 1000 / 4000.0;
        return _options.LastSeenWriteInterval * (1 - spread);
    }

    private int MaxAgents(TenantConfig tenant) => Math.Min(_options.MaxAgentsPerTenant, tenant.Agents?.MaxAgents ?? int.MaxValue);

    /// <summary>
    /// Counts a new agent against its tenant's quota. The count comes from the table at most once per
    /// <see cref="OpAmpOptions.QuotaRecount"/> and is kept here in between: replicas admitting new agents
    /// at the same moment can overshoot by what each admits within one recount interval.
    /// </summary>
    private async Task<bool> TryAdmitAsync(TenantConfig tenant, CancellationToken cancellationToken)
    {
        var count = _counts.GetOrAdd(tenant.Id, _ => new TenantCount());
        var now = _time.GetUtcNow();
        if (now - count.CountedAt >= _options.QuotaRecount)
        {
            await count.Gate.WaitAsync(cancellationToken);
            try
            {
                if (now - count.CountedAt >= _options.QuotaRecount)
                {
                    _metrics.Storage("count");
                    count.Count = await _store.CountAsync(tenant.Id, cancellationToken);
                    count.CountedAt = now;
                }
            }
            finally
            {
                count.Gate.Release();
            }
        }

        int max = MaxAgents(tenant);
        while (true)
        {
            int current = Volatile.Read(ref count.Count);
            if (current >= max)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref count.Count, current + 1, current) == current)
            {
                return true;
            }
        }
    }

    private static AgentRemoteConfig Render(SelectedAgentConfig selected, string endpoint, string apiKey, string tenant)
    {
        var entry = selected.Entry;
        string body = AgentConfigPlaceholders.Fill(entry.Body, endpoint, apiKey, tenant);
        var map = new AgentConfigMap();
        map.ConfigMap.Add(entry.Name, new AgentConfigFile { Body = ByteString.CopyFromUtf8(body), ContentType = entry.ContentType });
        return new AgentRemoteConfig { Config = map, ConfigHash = ByteString.CopyFrom(selected.Hash) };
    }

    /// <summary>
    /// Connection settings for what the agent accepts: its OpAMP connection (this gateway, the offered heartbeat)
    /// and its own telemetry (this gateway's OTLP/HTTP, under its tenant: the key it polled with is echoed).
    /// </summary>
    private ConnectionSettingsOffers? Offers(long capabilities, string endpoint, string apiKey)
    {
        var offers = new ConnectionSettingsOffers();
        bool any = false;
        Headers Auth() => new() { Headers_ = { new Header { Key = "Authorization", Value = "Bearer " + apiKey } } };
        if ((capabilities & (long)AgentCapabilities.AcceptsOpAmpconnectionSettings) != 0)
        {
            offers.Opamp = new OpAMPConnectionSettings
            {
                DestinationEndpoint = endpoint + "/v1/opamp",
                Headers = Auth(),
                HeartbeatIntervalSeconds = (ulong)Math.Max(1, _options.HeartbeatInterval.TotalSeconds),
            };
            any = true;
        }

        foreach (var (bit, path, set) in new (AgentCapabilities, string, Action<TelemetryConnectionSettings>)[]
        {
            (AgentCapabilities.ReportsOwnMetrics, "/v1/metrics", s => offers.OwnMetrics = s),
            (AgentCapabilities.ReportsOwnTraces, "/v1/traces", s => offers.OwnTraces = s),
            (AgentCapabilities.ReportsOwnLogs, "/v1/logs", s => offers.OwnLogs = s),
        })
        {
            if ((capabilities & (long)bit) != 0)
            {
                set(new TelemetryConnectionSettings { DestinationEndpoint = endpoint + path, Headers = Auth() });
                any = true;
            }
        }

        if (!any)
        {
            return null;
        }

        offers.Hash = ByteString.CopyFrom(SHA256.HashData(offers.ToByteArray()));
        return offers;
    }

    private void Evict()
    {
        if (Interlocked.Exchange(ref _evicting, 1) == 1)
        {
            return;
        }

        try
        {
            // Forget the tenth heard from least recently; they are read again (and asked for full state) if they come back.
            var oldest = _sessions.Select(s => (s.Key, s.Value.LastActivity)).OrderBy(s => s.LastActivity).Take(Math.Max(1, _sessions.Count / 10)).ToList();
            foreach (var (key, _) in oldest)
            {
                _sessions.TryRemove(key, out _);
            }
        }
        finally
        {
            Volatile.Write(ref _evicting, 0);
        }
    }

    private sealed class AgentSession
    {
        public SemaphoreSlim Gate { get; } = new(1, 1);

        public bool Loaded { get; set; }

        public bool Admitted { get; set; }

        public AgentRecord? Stored { get; set; }

        public ulong? LastSequence { get; set; }

        public DateTimeOffset LastSeenWritten { get; set; }

        public DateTimeOffset LastActivity { get; set; }
    }

    private sealed class TenantCount
    {
        public int Count;

        public DateTimeOffset CountedAt = DateTimeOffset.MinValue;

        public SemaphoreSlim Gate { get; } = new(1, 1);
    }
}

/// <summary>An AgentToServer that parses but breaks the server's limits: answered with <c>error_response</c> BAD_REQUEST.</summary>
internal sealed class BadAgentMessageException(string message) : Exception(message);
