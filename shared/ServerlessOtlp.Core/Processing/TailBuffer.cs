using ServerlessOtlp.Log;
using ServerlessOtlp.Pipeline.Sampling;

namespace ServerlessOtlp.Processing;

/// <summary>A trace waiting for its tail-sampling decision in one partition.</summary>
internal sealed class PendingTrace(string tenant, UInt128 traceId, DateTimeOffset dueAt, LogPosition position)
{
    public string Tenant { get; } = tenant;

    public UInt128 TraceId { get; } = traceId;

    /// <summary>First received-at of its spans plus the tenant's decision wait.</summary>
    public DateTimeOffset DueAt { get; } = dueAt;

    /// <summary>The event that brought its first span: the checkpoint must not pass it while the trace waits.</summary>
    public LogPosition Position { get; } = position;

    public List<BufferedSpan> Spans { get; } = [];

    /// <summary>Decided before its wait ended because the partition's buffer was full.</summary>
    public bool Early { get; set; }
}

/// <summary>
/// One partition's tail-sampling state: traces waiting for their decision (by due time), the
/// lowest log position still holding a waiting span, the event-time watermark, the rate-limit
/// windows and a bounded LRU cache of recent decisions for late spans. Used by one drain at a
/// time (the partition's lease holder), so it is not thread-safe.
/// </summary>
internal sealed class TailBuffer(DeferralLimits limits)
{
    private readonly Dictionary<(string, UInt128), PendingTrace> _pending = [];
    private readonly PriorityQueue<PendingTrace, (DateTimeOffset, long)> _byDue = new();
    private readonly SortedDictionary<long, int> _positions = [];
    private readonly Dictionary<(string, UInt128), LinkedListNode<((string, UInt128) Key, TailDecision Decision)>> _decided = [];
    private readonly LinkedList<((string, UInt128) Key, TailDecision Decision)> _lru = new();
    private long _sequence;

    public DeferralLimits Limits { get; } = limits;

    public TailRateWindows Rates { get; } = new();

    /// <summary>The latest received-at read in this partition: the clock decisions follow while a backlog is read.</summary>
    public DateTimeOffset Watermark { get; private set; } = DateTimeOffset.MinValue;

    public int BufferedSpans { get; private set; }

    public bool HasPending => _pending.Count > 0;

    public LogPosition? Floor
    {
        get
        {
            foreach (var (position, _) in _positions)
            {
                return new LogPosition(position);
            }

            return null;
        }
    }

    public void Observe(DateTimeOffset receivedAt)
    {
        if (receivedAt > Watermark)
        {
            Watermark = receivedAt;
        }
    }

    /// <summary>The decision of a recently decided trace, if the cache still holds it.</summary>
    public bool TryGetDecision(string tenant, UInt128 traceId, out TailDecision decision)
    {
        if (_decided.TryGetValue((tenant, traceId), out var node))
        {
            _lru.Remove(node);
            _lru.AddFirst(node);
            decision = node.Value.Decision;
            return true;
        }

        decision = default;
        return false;
    }

    public void Add(string tenant, UInt128 traceId, BufferedSpan span, LogPosition position, DateTimeOffset receivedAt, TimeSpan decisionWait)
    {
        var key = (tenant, traceId);
        if (!_pending.TryGetValue(key, out var trace))
        {
            trace = new PendingTrace(tenant, traceId, receivedAt + decisionWait, position);
            _pending.Add(key, trace);
            _byDue.Enqueue(trace, (trace.DueAt, _sequence++));
            _positions[position.Value] = _positions.GetValueOrDefault(position.Value) + 1;
        }

        trace.Spans.Add(span);
        BufferedSpans++;
    }

    /// <summary>
    /// Removes and returns the traces due at <paramref name="decideAt"/>, then, while more spans
    /// than the limit are buffered, the oldest others (marked <see cref="PendingTrace.Early"/>).
    /// </summary>
    public List<PendingTrace> TakeDue(DateTimeOffset decideAt)
    {
        var due = new List<PendingTrace>();
        while (_byDue.TryPeek(out var trace, out var priority) && (priority.Item1 <= decideAt || BufferedSpans > Limits.MaxBufferedSpans))
        {
            _byDue.Dequeue();
            trace.Early = priority.Item1 > decideAt;
            _pending.Remove((trace.Tenant, trace.TraceId));
            int left = _positions[trace.Position.Value] - 1;
            if (left == 0)
            {
                _positions.Remove(trace.Position.Value);
            }
            else
            {
                _positions[trace.Position.Value] = left;
            }

            BufferedSpans -= trace.Spans.Count;
            due.Add(trace);
        }

        return due;
    }

    /// <summary>Remembers a decision for late spans; the least recently used beyond the cache size is forgotten.</summary>
    public void Remember(string tenant, UInt128 traceId, TailDecision decision)
    {
        var key = (tenant, traceId);
        if (_decided.Remove(key, out var old))
        {
            _lru.Remove(old);
        }

        _decided[key] = _lru.AddFirst((key, decision));
        while (_decided.Count > Limits.DecisionCacheSize && _lru.Last is { } last)
        {
            _lru.RemoveLast();
            _decided.Remove(last.Value.Key);
        }
    }
}
