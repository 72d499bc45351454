using System.Collections.Concurrent;

namespace ServerlessOtlp.Tests.Export;

/// <summary>What a contract-test backend does with one request.</summary>
public enum BackendVerdict
{
    Accept,
    Transient,
    Permanent,
}

/// <summary>
/// The seeded verdicts of a contract-test backend, whatever its protocol (<see cref="OtlpTestReceiver"/>,
/// <see cref="ContractHttpReceiver"/>): accept, refuse for now or for good, or accept and answer late, as
/// <see cref="Mode"/> and a seeded draw decide; and the ids it took (with how often) and refused for good.
/// </summary>
public sealed class BackendVerdicts(int seed)
{
    private readonly Random _random = new(seed);
    private readonly Lock _gate = new();
    private int _requests;

    public ReceiverMode Mode { get; set; }

    /// <summary>Share of requests failed in the random modes.</summary>
    public double FailureRate { get; set; } = 0.3;

    /// <summary>Longest extra latency in <see cref="ReceiverMode.Slow"/>.</summary>
    public TimeSpan MaxLatency { get; set; } = TimeSpan.FromMilliseconds(150);

    /// <summary>Accepted ids with how often each arrived (more than once = a duplicate).</summary>
    public ConcurrentDictionary<string, int> Received { get; } = new();

    public ConcurrentDictionary<string, byte> PermanentlyRejected { get; } = new();

    public int Requests => Volatile.Read(ref _requests);

    /// <summary>Decides the answer to a request carrying <paramref name="ids"/> and records them accordingly.</summary>
    public async Task<BackendVerdict> DecideAsync(IReadOnlyCollection<string> ids)
    {
        Interlocked.Increment(ref _requests);
        double roll;
        int latencyMs;
        lock (_gate)
        {
            roll = _random.NextDouble();
            latencyMs = _random.Next((int)MaxLatency.TotalMilliseconds + 1);
        }

        switch (Mode)
        {
            case ReceiverMode.RandomTransient when roll < FailureRate:
                return BackendVerdict.Transient;
            case ReceiverMode.RandomPermanent when roll < FailureRate:
                foreach (var id in ids)
                {
                    PermanentlyRejected[id] = 0;
                }

                return BackendVerdict.Permanent;
            case ReceiverMode.Slow:
                // Taken on arrival, answered late: a client that gives up first sends it again (a duplicate).
                Record(ids);
                await Task.Delay(latencyMs, CancellationToken.None);
                return BackendVerdict.Accept;
        }

        Record(ids);
        return BackendVerdict.Accept;
    }

    private void Record(IReadOnlyCollection<string> ids)
    {
        foreach (var id in ids)
        {
            Received.AddOrUpdate(id, 1, (_, n) => n + 1);
        }
    }
}
