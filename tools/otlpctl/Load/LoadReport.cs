using System.Text.Json;

namespace ServerlessOtlp.Cli.Load;

/// <summary>
/// The outcome of a load run. <see cref="Sent"/> and <see cref="Accepted"/> count items;
/// <see cref="Refused"/> counts items by gRPC status name (e.g. <c>Unavailable</c>).
/// </summary>
internal sealed record LoadReport(
    long Sent,
    long Accepted,
    long Rejected,
    IReadOnlyDictionary<string, long> Refused,
    double ItemsPerSecond,
    long Requests,
    TimeSpan Elapsed,
    LatencySummary LatencyMs)
{
    /// <summary>Items accepted and refused in each second of the run (by when the answer came).</summary>
    public IReadOnlyList<LoadSecond> Timeline { get; init; } = [];

    /// <summary>Writes the report JSON of CONTRACTS.md: <c>{"sent","accepted","refused":{CODE:n},"itemsPerSecond","latencyMs":{p50,p95,p99,max}}</c>.</summary>
    public void WriteJson(Stream stream)
    {
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteNumber("sent", Sent);
        w.WriteNumber("accepted", Accepted);
        w.WriteStartObject("refused");
        foreach (var (code, n) in Refused.OrderBy(r => r.Key, StringComparer.Ordinal))
        {
            w.WriteNumber(code, n);
        }

        w.WriteEndObject();
        w.WriteNumber("itemsPerSecond", Math.Round(ItemsPerSecond, 1));
        w.WriteStartObject("latencyMs");
        w.WriteNumber("p50", Math.Round(LatencyMs.P50, 3));
        w.WriteNumber("p95", Math.Round(LatencyMs.P95, 3));
        w.WriteNumber("p99", Math.Round(LatencyMs.P99, 3));
        w.WriteNumber("max", Math.Round(LatencyMs.Max, 3));
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>Writes <see cref="Timeline"/> as <c>[{"second","accepted","refused"}, …]</c> (<c>load --timeline</c>).</summary>
    public void WriteTimelineJson(Stream stream)
    {
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        w.WriteStartArray();
        foreach (var s in Timeline)
        {
            w.WriteStartObject();
            w.WriteNumber("second", s.Second);
            w.WriteNumber("accepted", s.Accepted);
            w.WriteNumber("refused", s.Refused);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }
}

/// <summary>One second of a load run: items accepted and refused in it.</summary>
internal readonly record struct LoadSecond(int Second, long Accepted, long Refused);

/// <summary>Client-side latency percentiles, in milliseconds (nearest-rank).</summary>
internal sealed record LatencySummary(double P50, double P95, double P99, double Max)
{
    public static LatencySummary From(List<double> samples)
    {
        if (samples.Count == 0)
        {
            return new LatencySummary(0, 0, 0, 0);
        }

        samples.Sort();
        double At(double q) => samples[Math.Clamp((int)Math.Ceiling(q * samples.Count) - 1, 0, samples.Count - 1)];
        return new LatencySummary(At(0.50), At(0.95), At(0.99), samples[^1]);
    }
}
