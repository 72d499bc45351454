using System.Collections.Concurrent;
using System.Text;
using OpenTelemetry.Proto.Collector.Logs.V1;
using OpenTelemetry.Proto.Collector.Trace.V1;
using OpenTelemetry.Proto.Common.V1;
using ServerlessOtlp.Otlp.Json;
using ServerlessOtlp.Processing;

namespace ServerlessOtlp.Tests.Reliability;

/// <summary>
/// Bookkeeping for "nothing acknowledged is lost": every item (span / log record) carries a
/// unique <see cref="IdAttribute"/>. The client records what it sent and what it was told
/// (accepted, rejected for good, refused retryably — then it retries); the test records what
/// was delivered (the tenant's file destination) and what was dead-lettered. The check:
/// sent − permanently rejected == delivered ∪ dead-lettered, nothing delivered that was never
/// sent, and the duplicates counted.
/// </summary>
public sealed class LossChecker
{
    public const string IdAttribute = "test.id";

    private enum Fate
    {
        Pending,
        Accepted,
        Rejected,
    }

    private readonly ConcurrentDictionary<string, Fate> _sent = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _delivered = new(StringComparer.Ordinal);
    private readonly HashSet<string> _deadLettered = new(StringComparer.Ordinal);
    private long _retryableRefusals;
    private long _retriedItems;

    public long RetryableRefusals => Interlocked.Read(ref _retryableRefusals);

    /// <summary>Items sent again after a retryable refusal or a lost answer (each may be a duplicate in the log).</summary>
    public long RetriedItems => Interlocked.Read(ref _retriedItems);

    /// <summary>Lines of the destination files that did not parse (a torn write).</summary>
    public int UnreadableLines { get; private set; }

    public int SentCount => _sent.Count;

    public int AcceptedCount => _sent.Count(kv => kv.Value == Fate.Accepted);

    public int RejectedCount => _sent.Count(kv => kv.Value == Fate.Rejected);

    public IReadOnlyCollection<string> Acknowledged => _sent.Where(kv => kv.Value == Fate.Accepted).Select(kv => kv.Key).ToList();

    public void Sent(IEnumerable<string> ids)
    {
        foreach (var id in ids)
        {
            if (!_sent.TryAdd(id, Fate.Pending))
            {
                throw new InvalidOperationException($"id {id} sent twice as new: ids must be unique");
            }
        }
    }

    public void Accepted(IEnumerable<string> ids)
    {
        foreach (var id in ids)
        {
            _sent[id] = Fate.Accepted;
        }
    }

    public void RejectedPermanently(IEnumerable<string> ids)
    {
        foreach (var id in ids)
        {
            _sent[id] = Fate.Rejected;
        }
    }

    /// <summary>A retryable refusal (or no answer at all): the client will send these again.</summary>
    public void Retrying(int items)
    {
        Interlocked.Increment(ref _retryableRefusals);
        Interlocked.Add(ref _retriedItems, items);
    }

    /// <summary>Reads every <c>traces*.jsonl</c> and <c>logs*.jsonl</c> under <paramref name="directory"/> (rotated files included).</summary>
    public void ReadDelivered(string directory)
    {
        lock (_delivered)
        {
            _delivered.Clear();
            UnreadableLines = 0;
            if (!Directory.Exists(directory))
            {
                return;
            }

            foreach (var file in Directory.EnumerateFiles(directory, "*.jsonl"))
            {
                bool traces = Path.GetFileName(file).StartsWith("traces", StringComparison.Ordinal);
                bool logs = Path.GetFileName(file).StartsWith("logs", StringComparison.Ordinal);
                if (!traces && !logs)
                {
                    continue;
                }

                using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                using var reader = new StreamReader(stream, Encoding.UTF8);
                while (reader.ReadLine() is { } line)
                {
                    if (line.Length == 0)
                    {
                        continue;
                    }

                    try
                    {
                        foreach (var id in traces ? TraceIds(OtlpJson.Parse<ExportTraceServiceRequest>(Encoding.UTF8.GetBytes(line))) : LogIds(OtlpJson.Parse<ExportLogsServiceRequest>(Encoding.UTF8.GetBytes(line))))
                        {
                            _delivered[id] = _delivered.GetValueOrDefault(id) + 1;
                        }
                    }
                    catch (Exception ex) when (ex is OtlpJsonException or FormatException or InvalidOperationException)
                    {
                        UnreadableLines++;
                    }
                }
            }
        }
    }

    /// <summary>Reads every dead letter (optionally of one tenant) and collects the ids in their protobuf bodies.</summary>
    public async Task ReadDeadLettersAsync(DeadLetterStore store, string? tenant = null)
    {
        foreach (var letter in await store.ListAsync(tenant))
        {
            var got = await store.GetAsync(letter.Id);
            if (got is not { } value)
            {
                continue;
            }

            var body = value.Body.ToArray();
            IEnumerable<string> ids;
            try
            {
                ids = letter.Signal == "logs" ? LogIds(ExportLogsServiceRequest.Parser.ParseFrom(body)) : TraceIds(ExportTraceServiceRequest.Parser.ParseFrom(body));
            }
            catch (Google.Protobuf.InvalidProtocolBufferException)
            {
                continue; // a corrupt record: no ids to account for
            }

            lock (_deadLettered)
            {
                _deadLettered.UnionWith(ids);
            }
        }
    }

    public static IEnumerable<string> TraceIds(ExportTraceServiceRequest request) =>
        request.ResourceSpans.SelectMany(rs => rs.ScopeSpans).SelectMany(ss => ss.Spans).Select(s => IdOf(s.Attributes)).OfType<string>();

    public static IEnumerable<string> LogIds(ExportLogsServiceRequest request) =>
        request.ResourceLogs.SelectMany(rl => rl.ScopeLogs).SelectMany(sl => sl.LogRecords).Select(r => IdOf(r.Attributes)).OfType<string>();

    private static string? IdOf(IEnumerable<KeyValue> attributes) => attributes.FirstOrDefault(a => a.Key == IdAttribute)?.Value.StringValue;

    /// <summary>The delivered ids seen by the last <see cref="ReadDelivered"/>, with how often.</summary>
    public IReadOnlyDictionary<string, int> Delivered
    {
        get
        {
            lock (_delivered)
            {
                return new Dictionary<string, int>(_delivered, StringComparer.Ordinal);
            }
        }
    }

    /// <summary>True when every acknowledged item was delivered or dead-lettered (to poll on).</summary>
    public bool AllAcknowledgedArrived()
    {
        lock (_delivered)
        {
            return _sent.All(kv => kv.Value != Fate.Accepted || _delivered.ContainsKey(kv.Key) || _deadLettered.Contains(kv.Key));
        }
    }

    /// <summary>Compares; call after <see cref="ReadDelivered"/> and <see cref="ReadDeadLettersAsync"/>.</summary>
    public LossReport Check()
    {
        lock (_delivered)
        {
            var arrived = new HashSet<string>(_delivered.Keys, StringComparer.Ordinal);
            arrived.UnionWith(_deadLettered);
            var expected = _sent.Where(kv => kv.Value != Fate.Rejected).Select(kv => kv.Key).ToHashSet(StringComparer.Ordinal);
            var lostAcknowledged = _sent.Where(kv => kv.Value == Fate.Accepted && !arrived.Contains(kv.Key)).Select(kv => kv.Key).ToList();
            var neverAnswered = _sent.Where(kv => kv.Value == Fate.Pending && !arrived.Contains(kv.Key)).Select(kv => kv.Key).ToList();
            var unexpected = arrived.Where(id => !_sent.TryGetValue(id, out var f) || f == Fate.Rejected).ToList();
            long duplicates = _delivered.Values.Sum(n => (long)n - 1);
            int duplicatedIds = _delivered.Values.Count(n => n > 1);
            int maxCopies = _delivered.Count == 0 ? 0 : _delivered.Values.Max();
            return new LossReport(
                Sent: _sent.Count,
                Accepted: _sent.Count(kv => kv.Value == Fate.Accepted),
                Rejected: _sent.Count(kv => kv.Value == Fate.Rejected),
                Delivered: _delivered.Count,
                DeadLettered: _deadLettered.Count,
                LostAcknowledged: lostAcknowledged,
                NeverAnswered: neverAnswered,
                Unexpected: unexpected,
                Duplicates: duplicates,
                DuplicatedIds: duplicatedIds,
                MaxCopies: maxCopies,
                RetryableRefusals: RetryableRefusals,
                RetriedItems: RetriedItems,
                UnreadableLines: UnreadableLines,
                ExactlyTheExpected: expected.SetEquals(arrived));
        }
    }
}

/// <summary>What <see cref="LossChecker.Check"/> found.</summary>
public sealed record LossReport(
    int Sent,
    int Accepted,
    int Rejected,
    int Delivered,
    int DeadLettered,
    IReadOnlyList<string> LostAcknowledged,
    IReadOnlyList<string> NeverAnswered,
    IReadOnlyList<string> Unexpected,
    long Duplicates,
    int DuplicatedIds,
    int MaxCopies,
    long RetryableRefusals,
    long RetriedItems,
    int UnreadableLines,
    bool ExactlyTheExpected)
{
    /// <summary>Asserts sent − rejected == delivered ∪ dead-lettered (and nothing foreign arrived).</summary>
    public void AssertNoLoss()
    {
        Assert.True(LostAcknowledged.Count == 0, $"{LostAcknowledged.Count} acknowledged items lost, e.g. {string.Join(", ", LostAcknowledged.Take(5))}\n{this}");
        Assert.True(NeverAnswered.Count == 0, $"{NeverAnswered.Count} items never answered (the client gave up), e.g. {string.Join(", ", NeverAnswered.Take(5))}\n{this}");
        Assert.True(Unexpected.Count == 0, $"{Unexpected.Count} items arrived that were never sent or were rejected, e.g. {string.Join(", ", Unexpected.Take(5))}\n{this}");
        Assert.True(ExactlyTheExpected, this.ToString());
        Assert.True(UnreadableLines == 0, $"{UnreadableLines} torn lines in the destination\n{this}");
    }

    public override string ToString() =>
        $"sent {Sent}, accepted {Accepted}, rejected {Rejected}, delivered {Delivered} distinct, dead-lettered {DeadLettered}, " +
        $"lost acknowledged {LostAcknowledged.Count}, never answered {NeverAnswered.Count}, unexpected {Unexpected.Count}, " +
        $"duplicates {Duplicates} ({DuplicatedIds} ids, max {MaxCopies} copies), retryable refusals {RetryableRefusals} ({RetriedItems} items re-sent), unreadable lines {UnreadableLines}";
}
