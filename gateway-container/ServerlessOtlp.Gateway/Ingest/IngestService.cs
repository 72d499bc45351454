using ServerlessOtlp.Gateway.Telemetry;
using ServerlessOtlp.Log;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Otlp.Wire;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Gateway.Ingest;

/// <summary>
/// The ingest path shared by gRPC and HTTP: split by partition, apply limits, hand the parts to
/// the partition appenders and answer once every part is durable.
/// </summary>
internal sealed class IngestService
{
    // Room left in an event for the record framing and the properties; see BlobLogRecord and Event Hubs' per-event overhead.
    private const int EventOverheadBytes = 1024;

    private readonly IPartitionedLog _log;
    private readonly GatewayOptions _options;
    private readonly GatewayMetrics _metrics;
    private readonly InFlightBudget _budget;
    private readonly TenantRateLimiter _rateLimiter;
    private readonly PartitionAppender[] _appenders;
    private readonly LingerTimer _linger;

    // Requests between enqueue and answer: a lone request is appended at once, without the linger.
    private int _active;

    /// <param name="wakeup">Push-started drains: told of every partition appended to (none when drains are dispatched locally).</param>
    public IngestService(IPartitionedLog log, GatewayOptions options, GatewayMetrics metrics, TenantRateLimiter rateLimiter, TimeProvider? time = null, DrainWakeup? wakeup = null)
    {
        _log = log;
        _options = options;
        _metrics = metrics;
        _rateLimiter = rateLimiter;
        _budget = new InFlightBudget(options.InFlightBudgetBytes);
        _appenders = new PartitionAppender[log.PartitionCount];
        _linger = new LingerTimer(options.FlushDelay, time ?? TimeProvider.System);
        for (int i = 0; i < _appenders.Length; i++)
        {
            _appenders[i] = new PartitionAppender(i, log, options, metrics, time ?? TimeProvider.System, _linger, wakeup);
        }
    }

    public InFlightBudget Budget => _budget;

    public int PartitionCount => _appenders.Length;

    /// <summary>Parts waiting behind an append in flight, over all partitions.</summary>
    internal int QueuedParts => _appenders.Sum(a => a.PendingCount);

    /// <summary>Ingests one protobuf-encoded export request for an authenticated tenant.</summary>
    /// <param name="receivedBytes">The request's size after decompression as the client sent it (JSON is larger than its protobuf); the protobuf's length when not given.</param>
    /// <param name="memory">What the request already holds of the in-flight budget (its body); a lease of its own when null.</param>
    public async Task<IngestResult> IngestAsync(string tenant, TenantLimits? limits, Signal signal, ReadOnlyMemory<byte> request, long receivedBytes = -1, RequestMemory? memory = null)
    {
        using var own = memory == null ? new RequestMemory(_budget, tenant) : null;
        var held = memory ?? own!;
        try
        {
            // Everything the drain will decode, checked on the wire first: what it could not read is refused now, not dead-lettered later.
            OtlpWireValidator.Validate(signal, request.Span);
        }
        catch (InvalidDataException ex)
        {
            _metrics.Refused(tenant, signal, "invalid", 1);
            return IngestResult.Fail(IngestOutcome.InvalidArgument, $"request is not a valid {signal.ToName()} export request: {ex.Message}");
        }

        // The split's memory is bounded before it is asked for: reserve the bound, keep what it used.
        int bound = OtlpSplitter.OutputBound(request.Length);
        if (!held.TryGrow(bound))
        {
            _metrics.Refused(tenant, signal, "overloaded", 1);
            return IngestResult.Fail(IngestOutcome.Overloaded, "gateway is at its in-flight limit; retry later", TimeSpan.FromSeconds(_options.RetryAfterSeconds));
        }

        SplitResult split;
        try
        {
            split = OtlpSplitter.Split(signal, request.Span, _appenders.Length, _options.MaxEventBytes - EventOverheadBytes);
        }
        catch (InvalidDataException ex)
        {
            _metrics.Refused(tenant, signal, "invalid", 1);
            return IngestResult.Fail(IngestOutcome.InvalidArgument, $"request is not a valid {signal.ToName()} export request: {ex.Message}");
        }
        catch (SplitTooLargeException ex)
        {
            _metrics.Refused(tenant, signal, "too_large", 1);
            return IngestResult.Fail(IngestOutcome.TooLarge, ex.Message);
        }

        using (split)
        {
            held.Shrink(bound - split.Buffer.Capacity);
            if (split.RejectedItems > 0)
            {
                _metrics.Refused(tenant, signal, split.OversizedItems > 0 ? "too_large" : "invalid_trace_id", split.RejectedItems);
            }

            if (split.RecordCount == 0)
            {
                // Nothing left: items refused for their size make it a refusal for good; invalid ids stay a partial success.
                return split.OversizedItems > 0
                    ? IngestResult.Fail(IngestOutcome.TooLarge, split.RejectionMessage ?? "every item is larger than an event")
                    : new IngestResult(IngestOutcome.Ok, 0, split.RejectedItems, split.RejectionMessage);
            }

            if (!_rateLimiter.TryAcquire(tenant, limits?.ItemsPerSecond, limits?.BytesPerSecond, split.AcceptedItems, receivedBytes < 0 ? request.Length : receivedBytes, out var retryAfter))
            {
                _metrics.Refused(tenant, signal, "rate_limited", split.AcceptedItems);
                return IngestResult.Fail(IngestOutcome.RateLimited, $"tenant {tenant} is over its limit ({LimitText(limits)})", retryAfter);
            }

            bool alone = Interlocked.Increment(ref _active) == 1;
            PendingRequest pending;
            try
            {
                pending = new PendingRequest(split.RecordCount);
                Enqueue(split, pending, tenant, signal, linger: !alone);

                // Not cancellable: the parts point into this request's buffer until they are appended.
                await pending.Completion;
            }
            finally
            {
                Interlocked.Decrement(ref _active);
            }

            if (pending.FailedItems > 0)
            {
                _metrics.Refused(tenant, signal, "log_unavailable", pending.FailedItems);
                return IngestResult.Fail(IngestOutcome.LogUnavailable, "the log did not accept the data; retry later", TimeSpan.FromSeconds(_options.RetryAfterSeconds));
            }

            int accepted = split.AcceptedItems - pending.RefusedItems;
            int rejected = split.RejectedItems + pending.RefusedItems;
            if (pending.RefusedItems > 0)
            {
                _metrics.Refused(tenant, signal, "too_large", pending.RefusedItems);
            }

            if (accepted == 0)
            {
                return IngestResult.Fail(IngestOutcome.TooLarge, "the log refused every part of the request as too large");
            }

            _metrics.Accepted(tenant, signal, accepted);
            string? message = pending.RefusedItems == 0 ? split.RejectionMessage
                : $"{split.RejectionMessage}{(split.RejectionMessage == null ? "" : "; ")}{pending.RefusedItems} item(s) refused by the log as too large";
            return new IngestResult(IngestOutcome.Ok, accepted, rejected, message);
        }
    }

    private static string LimitText(TenantLimits? limits) =>
        (limits?.ItemsPerSecond, limits?.BytesPerSecond) switch
        {
            (long i, long b) => $"{i} items/s, {b} bytes/s",
            (long i, null) => $"{i} items/s",
            (null, long b) => $"{b} bytes/s",
            _ => "none",
        };

    /// <summary>
    /// Hands every part to its partition, then starts the pumps that are not running yet (all parts
    /// are queued first, so an append that runs inline already sees this request's other parts).
    /// </summary>
    private void Enqueue(SplitResult split, PendingRequest pending, string tenant, Signal signal, bool linger)
    {
        Span<bool> start = _appenders.Length <= 1024 ? stackalloc bool[_appenders.Length] : new bool[_appenders.Length];
        foreach (ref readonly var record in split.Records)
        {
            if (_appenders[record.Partition].Enqueue(new PartitionAppender.Part(pending, tenant, signal, split.RecordBytes(record), record.Items)))
            {
                start[record.Partition] = true;
            }
        }

        for (int p = 0; p < start.Length; p++)
        {
            if (start[p])
            {
                _appenders[p].Flush(linger);
            }
        }
    }
}
