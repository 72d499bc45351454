using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using ServerlessOtlp.Export;
using ServerlessOtlp.Log;
using ServerlessOtlp.Performance;
using ServerlessOtlp.Pipeline;
using ServerlessOtlp.Processing.Stages;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Processing;

/// <summary>
/// The per-tenant pipeline behind the drain, composed of stages chained like Collector processors
/// (Processing/Stages): wire sampling → decode → tail sampling (the deferring stage) →
/// transforms and filters → routing to every destination of the signal → delivery and settling
/// (retry store, dead letters). This class looks the tenant up, times the local work and hands the
/// drain the partition hooks: the state coordinator, the tail-sampling stage and the delivery's
/// destination batches.
/// </summary>
internal sealed class TenantEventProcessor : IEventProcessor
{
    private readonly ITenantDirectory _tenants;
    private readonly TimeProvider _time;
    private readonly PipelineMetrics _metrics;
    private readonly DeadLettering _deadLetters;
    private readonly WireSamplingStage _head;
    private readonly TailSamplingStage _tail;
    private readonly SettleStage _settle;
    private readonly DestinationDelivery _delivery;
    private readonly Action<long, EventProperties> _workDone;

    /// <summary>Without a retry store: a transient failure after the inline budget makes the drain retry later.</summary>
    public TenantEventProcessor(ITenantDirectory tenants, IEnumerable<IDestinationExporter> exporters, DeadLetterStore deadLetters, ILogger<TenantEventProcessor>? logger = null)
        : this(tenants, new ResilientExporter(exporters), deadLetters, null, logger)
    {
    }

    /// <param name="partitionState">Where per-partition exporter state (delta → cumulative totals) is saved with each checkpoint; without it the state lives only in this process.</param>
    public TenantEventProcessor(ITenantDirectory tenants, ResilientExporter exporter, DeadLetterStore deadLetters, RetryStore? retryStore, ILogger<TenantEventProcessor>? logger = null, TimeProvider? time = null, PartitionStateStore? partitionState = null)
    {
        _tenants = tenants;
        _time = time ?? TimeProvider.System;
        LocalWork = new LocalResponseTime(_time);
        var log = (ILogger?)logger ?? NullLogger.Instance;
        _metrics = new PipelineMetrics();
        var transformer = new TenantTransformer(_metrics);
        _deadLetters = new DeadLettering(deadLetters, log);
        _workDone = WorkDone;

        // Built from the end of the chain: each stage is handed the one after it.
        _settle = new SettleStage(retryStore, _deadLetters, log);
        _delivery = new DestinationDelivery(exporter, _settle, _time);
        var route = new RouteStage(transformer, exporter, _deadLetters, _delivery);
        var transform = new TransformStage(transformer, _deadLetters, route);
        _tail = new TailSamplingStage(tenants, _metrics, _deadLetters, transform);
        var decode = new DecodeStage(_deadLetters, _tail);
        _head = new WireSamplingStage(decode);

        Hooks = new PartitionHooks
        {
            State = new PartitionStateCoordinator(exporter.PartitionStateExporters.ToList(), partitionState, log),
            Deferral = _tail,
            Buffering = _delivery,
        };
    }

    /// <inheritdoc/>
    public PartitionHooks Hooks { get; }

    /// <summary>Batches parked in the retry store by this processor.</summary>
    public long ParkedTotal => _settle.ParkedTotal;

    /// <summary>Items refused by backends in partial successes (counted, never retried).</summary>
    public long RejectedItemsTotal => _settle.RejectedItemsTotal;

    /// <summary>Items dropped by head sampling (spans, and log records by their trace id).</summary>
    public long SampledOutTotal => _head.SampledOutTotal;

    /// <summary>Spans kept by tail sampling (late spans of kept traces included).</summary>
    public long TailKeptTotal => _tail.KeptTotal;

    /// <summary>Spans dropped by tail sampling (late spans of dropped traces included).</summary>
    public long TailDroppedTotal => _tail.DroppedTotal;

    /// <summary>Traces decided before their wait because a partition's buffer was full.</summary>
    public long TailDecidedEarlyTotal => _tail.DecidedEarlyTotal;

    /// <summary>Spans that arrived after their trace was decided and followed the cached decision.</summary>
    public long TailLateSpansTotal => _tail.LateSpansTotal;

    /// <summary>
    /// The time this processor spends per event on work local to it — tenant lookup, sampling, decoding,
    /// deferral, transforms and routing, up to the hand-over to the destinations — for the failure detector.
    /// </summary>
    public LocalResponseTime LocalWork { get; }

    /// <summary>Where the same local work is also recorded for the deployment's performance model (component <c>drain</c>).</summary>
    public ComponentRecorder? Performance { get; init; }

    /// <inheritdoc cref="IDestinationBuffering.BeginBuffering"/>
    public DestinationBatches BeginBuffering(int partition) => _delivery.BeginBuffering(partition);

    public async Task<EventFate> ProcessAsync(int partition, ReadEvent logEvent, CancellationToken cancellationToken = default)
    {
        long started = LocalWork.Start();
        var props = logEvent.Properties!;
        _tail.Observe(partition, props.ReceivedAt);
        var tenant = await _tenants.GetAsync(props.Tenant, cancellationToken);
        if (tenant == null)
        {
            await _deadLetters.WriteAsync(partition, logEvent, null, $"tenant \"{props.Tenant}\" is not configured", logEvent.Body, cancellationToken);
            return EventFate.DeadLettered;
        }

        var item = new EventContext(tenant, partition, logEvent);
        item.TimeLocalWork(started, _workDone);
        try
        {
            var fate = await _head.ProcessAsync(item, cancellationToken);
            item.WorkDone(); // where the chain ended early (sampled out, undecodable, deferred, filtered out)
            return fate;
        }
        finally
        {
            item.SampledBody?.Dispose();
        }
    }

    private void WorkDone(long started, EventProperties props)
    {
        LocalWork.Record(started);
        var elapsed = _time.GetElapsedTime(started);
        Performance?.Record(elapsed, props.ItemCount);
        _metrics.EventProcessed(props.Tenant, props.Signal, elapsed);
    }
}
