using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using OpenTelemetry.Proto.Collector.Trace.V1;
using OpenTelemetry.Proto.Common.V1;
using OpenTelemetry.Proto.Resource.V1;
using OpenTelemetry.Proto.Trace.V1;

// Usage: E2eLatencyProbe --endpoint URL --key KEY --file DATA_DIR/out/traces.jsonl
//                        [--count 200] [--rate 10] [--timeout 30] [--report FILE]
// Sends COUNT exports of one span each (COUNT/RATE seconds), each span carrying a unique
// probe.id and its send time (probe.sent_unix_nano, also its start time), and polls the file
// destination every 5 ms. Latency of a span = time from just before its Export call to the poll
// that finds its line in the file, both read from this process's Stopwatch (no clock skew).
var opts = Args.Parse(args);
string endpoint = opts.Get("--endpoint");
string key = opts.Get("--key");
string file = opts.Get("--file");
int count = int.Parse(opts.Get("--count", "200"), CultureInfo.InvariantCulture);
double rate = double.Parse(opts.Get("--rate", "10"), CultureInfo.InvariantCulture);
double timeoutSeconds = double.Parse(opts.Get("--timeout", "30"), CultureInfo.InvariantCulture);
string? reportPath = opts.GetOrNull("--report");

string run = Convert.ToHexString(RandomNumberGenerator.GetBytes(4)).ToLowerInvariant();
var idPattern = new Regex($"e2eprobe-{run}-(\\d+)", RegexOptions.Compiled | RegexOptions.CultureInvariant);
var sentAt = new long[count];
var seenAt = new long[count];
var ackMs = new double[count];
var failed = new string?[count];
int seenCount = 0;

using var stop = new CancellationTokenSource();
var tail = Task.Run(() => TailAsync(stop.Token));

using var channel = GrpcChannel.ForAddress(endpoint);
var client = new TraceService.TraceServiceClient(channel);
var headers = new Metadata { { "x-api-key", key } };
// One warm-up export (not counted) so that connection setup is not in the first sample.
await client.ExportAsync(Request("warmup", 0), headers);

var clock = Stopwatch.StartNew();
var sends = new List<Task>(count);
for (int i = 0; i < count; i++)
{
    var due = TimeSpan.FromSeconds(i / rate);
    var wait = due - clock.Elapsed;
    if (wait > TimeSpan.Zero)
    {
        await Task.Delay(wait);
    }

    int n = i;
    sends.Add(Task.Run(async () =>
    {
        var request = Request($"e2eprobe-{run}-{n}", UnixNanos());
        long t0 = Stopwatch.GetTimestamp();
        Volatile.Write(ref sentAt[n], t0);
        try
        {
            await client.ExportAsync(request, headers, DateTime.UtcNow.AddSeconds(30));
            ackMs[n] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        catch (RpcException ex)
        {
            failed[n] = ex.StatusCode.ToString();
        }
    }));
}

await Task.WhenAll(sends);
var deadline = Stopwatch.StartNew();
while (Volatile.Read(ref seenCount) < count - failed.Count(f => f != null) && deadline.Elapsed.TotalSeconds < timeoutSeconds)
{
    await Task.Delay(50);
}

await stop.CancelAsync();
try
{
    await tail;
}
catch (OperationCanceledException)
{
}

var latencies = new List<double>();
for (int i = 0; i < count; i++)
{
    if (seenAt[i] != 0)
    {
        latencies.Add(Stopwatch.GetElapsedTime(sentAt[i], seenAt[i]).TotalMilliseconds);
    }
}

var acks = ackMs.Where((a, i) => failed[i] == null).ToList();
var summary = new
{
    sent = count,
    refused = failed.Count(f => f != null),
    seen = latencies.Count,
    missing = count - failed.Count(f => f != null) - latencies.Count,
    endToEndMs = Percentiles(latencies),
    ackMs = Percentiles(acks),
};
string json = JsonSerializer.Serialize(summary, new JsonSerializerOptions { WriteIndented = true });
Console.Out.WriteLine(json);
if (reportPath != null)
{
    await File.WriteAllTextAsync(reportPath, json + "\n");
}

return summary.missing == 0 && summary.refused == 0 ? 0 : 1;

async Task TailAsync(CancellationToken ct)
{
    long position = -1; // -1: not decided yet
    var pending = new StringBuilder();
    var buffer = new byte[1 << 20];
    while (!ct.IsCancellationRequested)
    {
        if (File.Exists(file))
        {
            await using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.None);
            if (position < 0)
            {
                // Only what is appended from now on; earlier lines belong to other runs.
                position = stream.Length;
            }

            if (stream.Length < position)
            {
                position = 0; // rotated
            }

            stream.Position = position;
            int read;
            while ((read = stream.Read(buffer, 0, buffer.Length)) > 0)
            {
                long now = Stopwatch.GetTimestamp();
                position += read;
                pending.Append(Encoding.UTF8.GetString(buffer, 0, read));
                string text = pending.ToString();
                int lastNewline = text.LastIndexOf('\n');
                if (lastNewline < 0)
                {
                    continue;
                }

                foreach (Match m in idPattern.Matches(text.AsSpan(0, lastNewline).ToString()))
                {
                    int n = int.Parse(m.Groups[1].ValueSpan, CultureInfo.InvariantCulture);
                    if (n < count && seenAt[n] == 0)
                    {
                        seenAt[n] = now;
                        Interlocked.Increment(ref seenCount);
                    }
                }

                pending.Clear();
                pending.Append(text, lastNewline + 1, text.Length - lastNewline - 1);
            }
        }
        else
        {
            position = 0; // (re)created after the start: read it from the beginning
        }

        await Task.Delay(5, ct);
    }
}

static ExportTraceServiceRequest Request(string id, ulong sentUnixNano) => new()
{
    ResourceSpans =
    {
        new ResourceSpans
        {
            Resource = new Resource { Attributes = { Attr("service.name", "e2e-latency-probe") } },
            ScopeSpans =
            {
                new ScopeSpans
                {
                    Scope = new InstrumentationScope { Name = "bench.e2e" },
                    Spans =
                    {
                        new Span
                        {
                            TraceId = ByteString.CopyFrom(RandomNumberGenerator.GetBytes(16)),
                            SpanId = ByteString.CopyFrom(RandomNumberGenerator.GetBytes(8)),
                            Name = "probe",
                            Kind = Span.Types.SpanKind.Internal,
                            StartTimeUnixNano = sentUnixNano,
                            EndTimeUnixNano = sentUnixNano + 1000,
                            Attributes = { Attr("probe.id", id), Attr("probe.sent_unix_nano", sentUnixNano.ToString(CultureInfo.InvariantCulture)) },
                        },
                    },
                },
            },
        },
    },
};

static KeyValue Attr(string k, string v) => new() { Key = k, Value = new AnyValue { StringValue = v } };

static ulong UnixNanos() => (ulong)(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000);

static object Percentiles(List<double> samples)
{
    if (samples.Count == 0)
    {
        return new { p50 = 0.0, p95 = 0.0, p99 = 0.0, max = 0.0 };
    }

    samples.Sort();
    double At(double q) => Math.Round(samples[Math.Clamp((int)Math.Ceiling(q * samples.Count) - 1, 0, samples.Count - 1)], 1);
    return new { p50 = At(0.50), p95 = At(0.95), p99 = At(0.99), max = Math.Round(samples[^1], 1) };
}

internal sealed class Args
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);

    public static Args Parse(string[] args)
    {
        var a = new Args();
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            a._values[args[i]] = args[i + 1];
        }

        return a;
    }

    public string Get(string name, string? fallback = null) =>
        _values.TryGetValue(name, out var v) ? v : fallback ?? throw new ArgumentException($"missing {name}");

    public string? GetOrNull(string name) => _values.GetValueOrDefault(name);
}
