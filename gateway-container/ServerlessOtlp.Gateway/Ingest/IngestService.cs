using ServerlessOtlp.Gateway.Telemetry;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Otlp.Wire;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Gateway.Ingest;

/// <summary>
/// The ingest path shared by gRPC and HTTP: split by partition, apply limits, hand the parts to
/// the partition appenders and answer once every part is durable.
/// </summary>
public sealed class IngestService
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

    public IngestService(IPartitionedLog log, GatewayOptions options, GatewayMetrics metrics, TenantRateLimiter rateLimiter, TimeProvider? time = null)
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
            _appenders[i] = new PartitionAppender(i, log, options, metrics, time ?? TimeProvider.System, _linger);
        }
    }

    public InFlightBudget Budget => _budget;

    public int PartitionCount => _appenders.Length;

    /// <summary>Ingests one protobuf-encoded export request for an authenticated tenant.</summary>
    /// <param name="receivedBytes">The request's size after decompression as the client sent it (JSON is larger than its protobuf); the protobuf's length when not given.</param>
    public async Task<IngestResult> IngestAsync(string tenant, TenantLimits? limits, Signal signal, ReadOnlyMemory<byte> request, long receivedBytes = -1)
    {
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

        using (split)
        {
            if (split.RejectedItems > 0)
            {
                _metrics.Refused(tenant, signal, "invalid_trace_id", split.RejectedItems);
            }

            if (split.RecordCount == 0)
            {
                return new IngestResult(IngestOutcome.Ok, 0, split.RejectedItems, split.RejectionMessage);
            }

            if (!_rateLimiter.TryAcquire(tenant, limits?.ItemsPerSecond, limits?.BytesPerSecond, split.AcceptedItems, receivedBytes < 0 ? request.Length : receivedBytes, out var retryAfter))
            {
                _metrics.Refused(tenant, signal, "rate_limited", split.AcceptedItems);
                return IngestResult.Fail(IngestOutcome.RateLimited, $"tenant {tenant} is over its limit ({LimitText(limits)})", retryAfter);
            }

            long bytes = split.Buffer.Length;
            if (!_budget.TryReserve(bytes))
            {
                _metrics.Refused(tenant, signal, "overloaded", split.AcceptedItems);
                return IngestResult.Fail(IngestOutcome.Overloaded, "gateway is at its in-flight limit; retry later", TimeSpan.FromSeconds(_options.RetryAfterSeconds));
            }

            bool alone = Interlocked.Increment(ref _active) == 1;
            try
            {
                var pending = new PendingRequest(split.RecordCount);
                Enqueue(split, pending, tenant, signal, linger: !alone);

                // Not cancellable: the parts point into this request's buffer until they are appended.
                var error = await pending.Completion;
                if (error != null)
                {
                    _metrics.Refused(tenant, signal, "log_unavailable", split.AcceptedItems);
                    return IngestResult.Fail(IngestOutcome.LogUnavailable, "the log did not accept the data; retry later", TimeSpan.FromSeconds(_options.RetryAfterSeconds));
                }
            }
            finally
            {
                Interlocked.Decrement(ref _active);
                _budget.Release(bytes);
            }

            _metrics.Accepted(tenant, signal, split.AcceptedItems);
            return new IngestResult(IngestOutcome.Ok, split.AcceptedItems, split.RejectedItems, split.RejectionMessage);
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
