using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.RegularExpressions;
using Google.Protobuf;
using OpAmp.Proto.V1;

// Usage: OpAmpFleet --endpoint http://127.0.0.1:4318 --key KEY [--agents 10000] [--interval 30] [--warmup 60]
//                   [--measure 240] [--connections 256] [--metrics http://127.0.0.1:13133/metrics] [--pid GATEWAY_PID]
//                   [--storage-pid AZURITE_PID] [--report FILE] [--seed N]
// Simulates a fleet: every agent sends its full state first (description, capabilities, health), then a
// heartbeat every --interval seconds (±2 % jitter), acknowledges each remote config APPLIED on its next
// message and sends its full state again when asked (ReportFullState), as an OpAMP client does. First polls
// are spread over one interval. After --warmup seconds (the fleet registered) it measures for --measure
// seconds: requests answered (client side), the gateway's agents-table operations (its /metrics) and the
// CPU time of the gateway process (and of the storage emulator) from /proc.
var o = FleetOptions.Parse(args);
var random = new Random(o.Seed);
Console.WriteLine($"seed {o.Seed}; {o.Agents} agents every {o.Interval}s against {o.Endpoint}; warm-up {o.Warmup}s, measure {o.Measure}s");

var handler = new SocketsHttpHandler { MaxConnectionsPerServer = o.Connections, PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5) };
using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(60) };
var uri = new Uri(o.Endpoint.TrimEnd('/') + "/v1/opamp");
var agents = new SimulatedAgent[o.Agents];
for (int i = 0; i < agents.Length; i++)
{
    var uid = new byte[16];
    random.NextBytes(uid);
    uid[6] = (byte)((uid[6] & 0x0F) | 0x40); // a v4 UUID
    agents[i] = new SimulatedAgent(i, uid);
}

var clock = Stopwatch.StartNew();
var queue = new PriorityQueue<int, long>();
for (int i = 0; i < agents.Length; i++)
{
    queue.Enqueue(i, (long)(random.NextDouble() * o.Interval * 1000));
}

var stats = new Stats();
var gate = new SemaphoreSlim(o.Connections);
long measureFrom = o.Warmup * 1000L, measureTo = (o.Warmup + o.Measure) * 1000L;
Snapshot? first = null;

while (clock.ElapsedMilliseconds < measureTo)
{
    long now = clock.ElapsedMilliseconds;
    if (first is null && now >= measureFrom)
    {
        first = await Snapshot.TakeAsync(http, o, stats);
        stats.Measuring = true;
    }

    int next;
    long due;
    lock (queue)
    {
        if (!queue.TryPeek(out next, out due) || due > now)
        {
            next = -1;
        }
        else
        {
            queue.Dequeue();
        }
    }

    if (next < 0)
    {
        await Task.Delay(5);
        continue;
    }

    await gate.WaitAsync();
    var agent = agents[next];
    _ = Task.Run(async () =>
    {
        try
        {
            bool soon = await agent.PollAsync(http, uri, o.Key, stats);
            long jitter = (long)((Random.Shared.NextDouble() - 0.5) * 0.04 * o.Interval * 1000);
            long at = clock.ElapsedMilliseconds + (soon ? 0 : o.Interval * 1000L + jitter);
            lock (queue)
            {
                queue.Enqueue(agent.Index, at);
            }
        }
        finally
        {
            gate.Release();
        }
    });
}

var last = await Snapshot.TakeAsync(http, o, stats);
first ??= last;
double seconds = (last.At - first.At).TotalSeconds;
var ops = last.StorageOps.ToDictionary(kv => kv.Key, kv => kv.Value - first.StorageOps.GetValueOrDefault(kv.Key));
long totalOps = ops.Values.Sum();
var latencies = stats.Latencies();
var report = new Dictionary<string, object?>
{
    ["agents"] = o.Agents,
    ["intervalSeconds"] = o.Interval,
    ["measuredSeconds"] = Math.Round(seconds, 1),
    ["requestsPerSecond"] = Math.Round((last.Answered - first.Answered) / seconds, 1),
    ["gatewayRequestsPerSecond"] = Math.Round((last.GatewayRequests - first.GatewayRequests) / seconds, 1),
    ["statusCounts"] = stats.Statuses(),
    ["storageOperationsPerSecond"] = Math.Round(totalOps / seconds, 2),
    ["storageOperations"] = ops,
    ["storageWritesPerAgentPerHour"] = Math.Round((ops.GetValueOrDefault("insert") + ops.GetValueOrDefault("update") + ops.GetValueOrDefault("touch")) / seconds * 3600 / o.Agents, 2),
    ["gatewayCpuCores"] = last.GatewayCpu is { } c1 && first.GatewayCpu is { } c0 ? Math.Round((c1 - c0) / seconds, 3) : null,
    ["storageCpuCores"] = last.StorageCpu is { } s1 && first.StorageCpu is { } s0 ? Math.Round((s1 - s0) / seconds, 3) : null,
    ["gatewayRssMiB"] = last.GatewayRssMiB,
    ["latencyMs"] = latencies,
    ["fullStateRequests"] = stats.FullStateRequests,
    ["configsApplied"] = stats.ConfigsReceived,
};
string json = JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true });
Console.WriteLine(json);
if (o.Report is { } path)
{
    await File.WriteAllTextAsync(path, json);
}

return stats.Failures > 0 && stats.Answered == 0 ? 1 : 0;

/// <summary>One simulated agent: its UID, sequence number and what it owes the server.</summary>
internal sealed class SimulatedAgent(int index, byte[] uid)
{
    private ulong _sequence;
    private bool _sendFull = true;
    private ByteString? _applied;

    public int Index { get; } = index;

    private const ulong Capabilities = (ulong)(AgentCapabilities.ReportsStatus | AgentCapabilities.AcceptsRemoteConfig
        | AgentCapabilities.ReportsRemoteConfig | AgentCapabilities.ReportsEffectiveConfig | AgentCapabilities.ReportsHealth
        | AgentCapabilities.ReportsHeartbeat);

    /// <summary>One exchange; true when the agent has something to send at once (a full state, an acknowledgement).</summary>
    public async Task<bool> PollAsync(HttpClient http, Uri uri, string key, Stats stats)
    {
        var message = new AgentToServer { InstanceUid = ByteString.CopyFrom(uid), SequenceNum = ++_sequence, Capabilities = Capabilities };
        if (_sendFull)
        {
            message.AgentDescription = new AgentDescription();
            message.AgentDescription.IdentifyingAttributes.Add(new KeyValue { Key = "service.name", Value = new AnyValue { StringValue = "edge-collector" } });
            message.AgentDescription.IdentifyingAttributes.Add(new KeyValue { Key = "service.instance.id", Value = new AnyValue { StringValue = Convert.ToHexStringLower(uid) } });
            message.AgentDescription.NonIdentifyingAttributes.Add(new KeyValue { Key = "host.name", Value = new AnyValue { StringValue = "host-" + Index } });
            message.Health = new ComponentHealth { Healthy = true, Status = "StatusOK", StartTimeUnixNano = 1 };
            if (_applied is not null)
            {
                message.RemoteConfigStatus = new RemoteConfigStatus { LastRemoteConfigHash = _applied, Status = RemoteConfigStatuses.Applied };
            }
        }

        var sent = Stopwatch.GetTimestamp();
        using var content = new ByteArrayContent(message.ToByteArray());
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
        using var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = content };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        try
        {
            using var response = await http.SendAsync(request);
            byte[] body = await response.Content.ReadAsByteArrayAsync();
            stats.Record((int)response.StatusCode, Stopwatch.GetElapsedTime(sent));
            if (!response.IsSuccessStatusCode)
            {
                return false;
            }

            var reply = ServerToAgent.Parser.ParseFrom(body);
            _sendFull = (reply.Flags & (ulong)ServerToAgentFlags.ReportFullState) != 0;
            if (_sendFull)
            {
                stats.FullState();
            }

            if (reply.RemoteConfig is { } config && !config.ConfigHash.Equals(_applied))
            {
                // "Applied": acknowledged on the next message, at once.
                _applied = config.ConfigHash;
                _sendFull = true;
                stats.Config();
            }

            return _sendFull;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or InvalidProtocolBufferException)
        {
            stats.Failed();
            return false;
        }
    }
}

/// <summary>Client-side counts and latencies; latencies only while measuring.</summary>
internal sealed class Stats
{
    private readonly Lock _lock = new();
    private readonly Dictionary<int, long> _statuses = [];
    private readonly List<double> _latencies = [];
    private long _answered;
    private long _failures;
    private long _fullState;
    private long _configs;

    public bool Measuring { get; set; }

    public long Answered => Interlocked.Read(ref _answered);

    public long Failures => Interlocked.Read(ref _failures);

    public long FullStateRequests => Interlocked.Read(ref _fullState);

    public long ConfigsReceived => Interlocked.Read(ref _configs);

    public void Record(int status, TimeSpan latency)
    {
        Interlocked.Increment(ref _answered);
        lock (_lock)
        {
            _statuses[status] = _statuses.GetValueOrDefault(status) + 1;
            if (Measuring)
            {
                _latencies.Add(latency.TotalMilliseconds);
            }
        }
    }

    public void Failed() => Interlocked.Increment(ref _failures);

    public void FullState() => Interlocked.Increment(ref _fullState);

    public void Config() => Interlocked.Increment(ref _configs);

    public Dictionary<string, long> Statuses()
    {
        lock (_lock)
        {
            var d = _statuses.ToDictionary(kv => kv.Key.ToString(CultureInfo.InvariantCulture), kv => kv.Value);
            d["transport_errors"] = Failures;
            return d;
        }
    }

    public Dictionary<string, double> Latencies()
    {
        lock (_lock)
        {
            var sorted = _latencies.Order().ToArray();
            double P(double q) => sorted.Length == 0 ? 0 : Math.Round(sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))], 2);
            return new() { ["p50"] = P(0.50), ["p95"] = P(0.95), ["p99"] = P(0.99), ["max"] = sorted.Length == 0 ? 0 : Math.Round(sorted[^1], 2) };
        }
    }
}

/// <summary>What the gateway's /metrics and /proc say at one instant.</summary>
internal sealed partial record Snapshot(DateTime At, long Answered, long GatewayRequests, Dictionary<string, long> StorageOps, double? GatewayCpu, double? StorageCpu, long? GatewayRssMiB)
{
    public static async Task<Snapshot> TakeAsync(HttpClient http, FleetOptions o, Stats stats)
    {
        var ops = new Dictionary<string, long>();
        long requests = 0;
        if (o.Metrics is { } metrics)
        {
            string text = await http.GetStringAsync(metrics);
            foreach (Match m in StorageLine().Matches(text))
            {
                ops[m.Groups["op"].Value] = ops.GetValueOrDefault(m.Groups["op"].Value) + (long)double.Parse(m.Groups["v"].Value, CultureInfo.InvariantCulture);
            }

            foreach (Match m in RequestLine().Matches(text))
            {
                requests += (long)double.Parse(m.Groups["v"].Value, CultureInfo.InvariantCulture);
            }
        }

        return new Snapshot(DateTime.UtcNow, stats.Answered, requests, ops, CpuSeconds(o.Pid), CpuSeconds(o.StoragePid), RssMiB(o.Pid));
    }

    /// <summary>utime + stime of a process, in seconds (/proc/PID/stat fields 14 and 15, in clock ticks of 1/100 s).</summary>
    private static double? CpuSeconds(int? pid)
    {
        if (pid is null || !File.Exists($"/proc/{pid}/stat"))
        {
            return null;
        }

        string stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
    }

    private static long? RssMiB(int? pid)
    {
        if (pid is null || !File.Exists($"/proc/{pid}/status"))
        {
            return null;
        }

        var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return line is null ? null : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
    }

    [GeneratedRegex("""^otlp_opamp_storage_operations_total\{[^}]*operation="(?<op>[a-z]+)"[^}]*\} (?<v>[0-9.e+]+)""", RegexOptions.Multiline)]
    private static partial Regex StorageLine();

    [GeneratedRegex("""^otlp_opamp_requests_total\{[^}]*\} (?<v>[0-9.e+]+)""", RegexOptions.Multiline)]
    private static partial Regex RequestLine();
}

internal sealed record FleetOptions(string Endpoint, string Key, int Agents, int Interval, int Warmup, int Measure, int Connections, string? Metrics, int? Pid, int? StoragePid, string? Report, int Seed)
{
    public static FleetOptions Parse(string[] args)
    {
        string? Get(string name) => Array.IndexOf(args, name) is >= 0 and var i && i + 1 < args.Length ? args[i + 1] : null;
        int Int(string name, int fallback) => Get(name) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
        int? Maybe(string name) => Get(name) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : null;
        return new FleetOptions(
            Get("--endpoint") ?? "http://127.0.0.1:4318",
            Get("--key") ?? throw new ArgumentException("--key KEY is required"),
            Int("--agents", 10_000),
            Int("--interval", 30),
            Int("--warmup", 60),
            Int("--measure", 240),
            Int("--connections", 256),
            Get("--metrics"),
            Maybe("--pid"),
            Maybe("--storage-pid"),
            Get("--report"),
            Int("--seed", Random.Shared.Next()));
    }
}
