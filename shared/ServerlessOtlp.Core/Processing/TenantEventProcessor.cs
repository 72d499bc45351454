using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OpenTelemetry.Proto.Collector.Logs.V1;
using OpenTelemetry.Proto.Collector.Metrics.V1;
using OpenTelemetry.Proto.Collector.Trace.V1;
using ServerlessOtlp.Export;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Otlp.Wire;
using ServerlessOtlp.Pipeline;
using ServerlessOtlp.Performance;
using ServerlessOtlp.Pipeline.Sampling;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Processing;

/// <summary>
/// The per-tenant pipeline behind the drain: decode the event, then deliver it to each of the
/// tenant's destinations for its signal, all at once (a slow or failing destination never delays
/// the others). Each export runs through its destination's resilience pipeline; what still fails
/// transiently after the short inline budget is parked in the retry store and counts as settled,
/// so one tenant's outage never stalls the partition. Undecodable data and permanent refusals go
/// to the dead-letter store. Only when parking itself fails (or there is no retry store) does the
/// drain retry from this event later.
/// </summary>
public sealed partial class TenantEventProcessor : IEventProcessor, IPartitionStateful, IEventDeferral, IDestinationBuffering
{
    private readonly ITenantDirectory _tenants;
    private readonly ResilientExporter _exporter;
    private readonly DeadLetterStore _deadLetters;
    private readonly RetryStore? _retryStore;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly TenantTransformer _transformer;
    private readonly PipelineMetrics _metrics;
    private long _parked;
    private long _rejectedItems;

    /// <summary>Without a retry store: a transient failure after the inline budget makes the drain retry later.</summary>
    public TenantEventProcessor(ITenantDirectory tenants, IEnumerable<IDestinationExporter> exporters, DeadLetterStore deadLetters, ILogger<TenantEventProcessor>? logger = null)
        : this(tenants, new ResilientExporter(exporters), deadLetters, null, logger)
    {
    }

    /// <param name="partitionState">Where per-partition exporter state (delta → cumulative totals) is saved with each checkpoint; without it the state lives only in this process.</param>
    public TenantEventProcessor(ITenantDirectory tenants, ResilientExporter exporter, DeadLetterStore deadLetters, RetryStore? retryStore, ILogger<TenantEventProcessor>? logger = null, TimeProvider? time = null, PartitionStateStore? partitionState = null)
    {
        _partitionState = partitionState;
        _tenants = tenants;
        _exporter = exporter;
        _deadLetters = deadLetters;
        _retryStore = retryStore;
        _time = time ?? TimeProvider.System;
        LocalWork = new LocalResponseTime(_time);
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _metrics = new PipelineMetrics();
        _transformer = new TenantTransformer(_metrics);
        Hooks = new PartitionHooks { State = this, Deferral = this, Buffering = this };
    }

    /// <inheritdoc/>
    public PartitionHooks Hooks { get; }

    /// <summary>Batches parked in the retry store by this processor.</summary>
    public long ParkedTotal => Interlocked.Read(ref _parked);

    /// <summary>
    /// The time this processor spends per event on work local to it — tenant lookup, sampling, decoding,
    /// deferral, transforms and routing, up to the hand-over to the destinations — for the failure detector.
    /// </summary>
    public LocalResponseTime LocalWork { get; }

    /// <summary>Where the same local work is also recorded for the deployment's performance model (component <c>drain</c>).</summary>
    public ComponentRecorder? Performance { get; init; }

    private void WorkDone(long started, EventProperties props)
    {
        LocalWork.Record(started);
        var elapsed = _time.GetElapsedTime(started);
        Performance?.Record(elapsed, props.ItemCount);
        _metrics.EventProcessed(props.Tenant, props.Signal, elapsed);
    }

    /// <summary>Items refused by backends in partial successes (counted, never retried).</summary>
    public long RejectedItemsTotal => Interlocked.Read(ref _rejectedItems);

    public async Task<EventFate> ProcessAsync(int partition, ReadEvent logEvent, CancellationToken cancellationToken = default)
    {
        long started = LocalWork.Start();
        var props = logEvent.Properties!;
        var tail = TailBufferOf(partition);
        tail?.Observe(props.ReceivedAt);
        var tenant = await _tenants.GetAsync(props.Tenant, cancellationToken);
        if (tenant == null)
        {
            await DeadLetterAsync(props, null, partition, logEvent, $"tenant \"{props.Tenant}\" is not configured", logEvent.Body, cancellationToken);
            return EventFate.DeadLettered;
        }

        // Head of the pipeline: consistent sampling on the wire, so a dropped span is never decoded.
        using var sampled = SampleOnWire(tenant, logEvent, out var kept);
        if (sampled != null)
        {
            if (kept.Kept == 0)
            {
                WorkDone(started, props);
                return EventFate.Delivered;
            }

            logEvent = logEvent with { Body = sampled.WrittenMemory };
        }

        var (message, bytes, fate) = await DecodeAsync(partition, logEvent, cancellationToken);
        if (message == null)
        {
            WorkDone(started, props);
            return fate;
        }

        // Tail sampling: spans wait in the partition's buffer for their trace's decision; only spans
        // of traces decided already (late spans) and spans without a trace id go on now.
        if (tail != null && props.Signal == Signal.Traces && TailConfigOf(tenant) is { } tailConfig)
        {
            var now = Defer(tail, tenant.Id, tailConfig, logEvent, (ExportTraceServiceRequest)message);
            if (now == null)
            {
                WorkDone(started, props);
                return fate;
            }

            message = now;
            bytes = now.ToByteArray();
        }

        return await DeliverDecodedAsync(tenant, partition, logEvent, message, bytes, fate, cancellationToken, started);
    }

    /// <summary>
    /// The pipeline after decoding and sampling, shared by events and by tail-sampled traces:
    /// redaction, transforms and filters, then `when` routing and export to every destination of
    /// the signal. <paramref name="fate"/> is the fate so far (dead-lettered when part of the event
    /// could not be decoded); <paramref name="logEvent"/> names the tenant, signal and position for
    /// dead letters.
    /// </summary>
    /// <param name="started">For an event (not a tail-sampled trace): when its local work began (<see cref="LocalWork"/>).</param>
    private async Task<EventFate> DeliverDecodedAsync(TenantConfig tenant, int partition, ReadEvent logEvent, IMessage message, ReadOnlyMemory<byte> bytes, EventFate fate, CancellationToken cancellationToken, long? started = null)
    {
        var props = logEvent.Properties!;

        // Redaction, OTTL transforms and filters, on the decoded request.
        if (TenantTransformer.HasWork(tenant, props.Signal))
        {
            var transformed = _transformer.Apply(tenant, props.Signal, message);
            if (transformed.Failed)
            {
                if (started is { } failedAt)
                {
                    WorkDone(failedAt, props);
                }

                // error_mode propagate: the original bytes go to the dead-letter store with the reason.
                await DeadLetterAsync(props, null, partition, logEvent, "transform failed: " + transformed.Error, bytes, cancellationToken);
                return EventFate.DeadLettered;
            }

            if (transformed.ItemsOut == 0)
            {
                if (started is { } droppedAt)
                {
                    WorkDone(droppedAt, props);
                }

                return fate;
            }

            bytes = message.ToByteArray();
        }

        var deliveries = new List<Task<EventFate>>(tenant.Destinations.Count);
        foreach (var destination in tenant.Destinations)
        {
            if (!destination.Signals.Contains(props.Signal))
            {
                continue;
            }

            // Routing: a destination with a `when` condition gets only the matching part.
            var routed = destination.When == null ? message : _transformer.FilterForDestination(destination, props.Signal, message);
            if (routed == null)
            {
                continue;
            }

            var routedBytes = ReferenceEquals(routed, message) ? bytes : routed.ToByteArray();
            deliveries.Add(DeliverAsync(tenant, destination, partition, logEvent, routed, routedBytes, cancellationToken));
        }

        if (started is { } handedOver)
        {
            WorkDone(handedOver, props); // routing included; the exports started above are not local work
        }

        var result = fate;
        foreach (var destinationFate in await Task.WhenAll(deliveries))
        {
            if (destinationFate == EventFate.RetryLater)
            {
                result = EventFate.RetryLater;
            }
            else if (destinationFate == EventFate.DeadLettered && result != EventFate.RetryLater)
            {
                result = EventFate.DeadLettered;
            }
        }

        return result;
    }

    /// <summary>Items dropped by head sampling (spans, and log records by their trace id).</summary>
    public long SampledOutTotal => Interlocked.Read(ref _sampledOut);

    private long _sampledOut;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (long Version, TraceSampler? Sampler)> _samplers = new(StringComparer.Ordinal);

    /// <summary>
    /// Applies the tenant's trace sampling to spans, and to log records by their trace id; null
    /// when the event is not sampled (metrics, or no sampling configured).
    /// </summary>
    private PooledBuffer? SampleOnWire(TenantConfig tenant, ReadEvent logEvent, out WireSampler.Counts counts)
    {
        counts = default;
        var signal = logEvent.Properties!.Signal;
        if (signal == Signal.Metrics || tenant.Sampling?.Traces is not { } config)
        {
            return null;
        }

        var entry = _samplers.AddOrUpdate(
            tenant.Id,
            _ => (tenant.Version, TraceSampler.For(config)),
            (_, existing) => existing.Version == tenant.Version && existing.Sampler != null ? existing : (tenant.Version, TraceSampler.For(config)));
        var buffer = new PooledBuffer(logEvent.Body.Length);
        try
        {
            counts = signal == Signal.Traces
                ? WireSampler.SampleTraces(logEvent.Body.Span, entry.Sampler!, buffer)
                : WireSampler.SampleLogs(logEvent.Body.Span, entry.Sampler!, buffer);
        }
        catch (InvalidDataException)
        {
            buffer.Dispose();
            return null; // undecodable: let the decoder dead-letter it with its reason
        }

        Interlocked.Add(ref _sampledOut, counts.Dropped);
        return buffer;
    }

    /// <inheritdoc/>
    public DestinationBatches BeginBuffering(int partition) => new(partition, SendBatchAsync, _time);

    /// <summary>
    /// One destination: export, then settle the outcome (delivered, dead-lettered or parked). A
    /// destination with <c>batch</c> joins the drain's batch instead (<see cref="DestinationBatches"/>).
    /// </summary>
    private async Task<EventFate> DeliverAsync(TenantConfig tenant, DestinationConfig destination, int partition, ReadEvent logEvent, IMessage message, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        var props = logEvent.Properties!;
        if (!_exporter.Supports(destination.Kind))
        {
            await DeadLetterAsync(props, destination.Name, partition, logEvent, $"destination kind {destination.Kind} is not available in this build", bytes, cancellationToken);
            return EventFate.DeadLettered;
        }

        if (destination.Batch is not null && DestinationBatches.Current(partition) is { } batches)
        {
            return await batches.AddAsync(tenant, destination, props.Signal, logEvent, message, bytes, cancellationToken);
        }

        var started = _time.GetUtcNow();
        var outcome = await _exporter.ExportAsync(new ExportRequest(tenant, destination, props.Signal, message, bytes, partition), cancellationToken);
        return await SettleAsync(tenant, destination, props.Signal, partition, [(logEvent, bytes)], bytes, outcome, started, cancellationToken);
    }

    /// <summary>A batch of consecutive events' items for one destination: one export, settled for every event in it.</summary>
    private async Task<BatchSettlement> SendBatchAsync(PendingBatch batch, CancellationToken cancellationToken)
    {
        int partition = batch.Partition;
        var outcome = await _exporter.ExportAsync(new ExportRequest(batch.Tenant, batch.Destination, batch.Signal, batch.Message(), batch.Protobuf, partition), cancellationToken);
        var parts = batch.Parts.Select(p => (p.Event, batch.Protobuf.Slice(p.Offset, p.Length))).ToList();
        return await SettleAsync(batch.Tenant, batch.Destination, batch.Signal, partition, parts, batch.Protobuf, outcome, batch.StartedAt, cancellationToken) switch
        {
            EventFate.DeadLettered => new BatchSettlement(batch.Parts.Count, null),
            EventFate.RetryLater => new BatchSettlement(0, batch.Floor),
            _ => default,
        };
    }

    /// <summary>
    /// Settles one export of <paramref name="parts"/> (one event, or a batch of them): success is
    /// delivered; a permanent refusal dead-letters each event's part for this destination; a transient
    /// failure parks the whole request in the retry store, or — when it cannot — asks the drain to
    /// read the events again.
    /// </summary>
    private async Task<EventFate> SettleAsync(TenantConfig tenant, DestinationConfig destination, Signal signal, int partition, IReadOnlyList<(ReadEvent Event, ReadOnlyMemory<byte> Bytes)> parts, ReadOnlyMemory<byte> bytes, ExportOutcome outcome, DateTimeOffset started, CancellationToken cancellationToken)
    {
        switch (outcome.Status)
        {
            case ExportStatus.Success:
                if (outcome.RejectedItems > 0)
                {
                    Interlocked.Add(ref _rejectedItems, outcome.RejectedItems);
                    _logger.LogWarning("Tenant {Tenant} destination {Destination}: {Message}", tenant.Id, destination.Name, outcome.Message);
                }

                return EventFate.Delivered;
            case ExportStatus.Permanent:
                foreach (var (logEvent, part) in parts)
                {
                    await DeadLetterAsync(logEvent.Properties!, destination.Name, partition, logEvent, outcome.Message ?? "refused", part, cancellationToken);
                }

                return EventFate.DeadLettered;
        }

        if (_retryStore == null)
        {
            _logger.LogWarning("Tenant {Tenant} destination {Destination}: {Message}; partition {Partition} retries later", tenant.Id, destination.Name, outcome.Message, partition);
            return EventFate.RetryLater;
        }

        try
        {
            await _retryStore.WriteAsync(tenant.Id, destination.Name, signal, bytes, started, 1, outcome.Message ?? "failed", cancellationToken);
            Interlocked.Increment(ref _parked);
            _logger.LogWarning("Tenant {Tenant} destination {Destination}: {Message}; parked in the retry store", tenant.Id, destination.Name, outcome.Message);
            return EventFate.Delivered;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            _logger.LogWarning(ex, "Tenant {Tenant} destination {Destination}: parking in the retry store failed; partition {Partition} retries later", tenant.Id, destination.Name, partition);
            return EventFate.RetryLater;
        }
    }

    /// <summary>Decodes the body; when it does not parse, salvages the records that do and dead-letters the rest.</summary>
    private async Task<(IMessage? Message, ReadOnlyMemory<byte> Bytes, EventFate Fate)> DecodeAsync(int partition, ReadEvent logEvent, CancellationToken cancellationToken)
    {
        var props = logEvent.Properties!;
        var parser = ParserFor(props.Signal);
        try
        {
            return (parser.ParseFrom(logEvent.Body.Span), logEvent.Body, EventFate.Delivered);
        }
        catch (InvalidProtocolBufferException ex)
        {
            // The event merges requests of several clients: keep each good resource record.
            var good = new MemoryStream();
            var bad = new MemoryStream();
            try
            {
                foreach (var record in TopLevelRecords(logEvent.Body))
                {
                    try
                    {
                        parser.ParseFrom(record.Span);
                        good.Write(record.Span);
                    }
                    catch (InvalidProtocolBufferException)
                    {
                        bad.Write(record.Span);
                    }
                }
            }
            catch (InvalidDataException)
            {
                good.SetLength(0);
                bad.SetLength(0);
                bad.Write(logEvent.Body.Span);
            }

            await DeadLetterAsync(props, null, partition, logEvent, "undecodable " + props.Signal.ToName() + " data: " + ex.Message, bad.ToArray(), cancellationToken);
            if (good.Length == 0)
            {
                return (null, default, EventFate.DeadLettered);
            }

            var bytes = good.ToArray();
            return (parser.ParseFrom(bytes), bytes, EventFate.DeadLettered);
        }
    }

    private static IEnumerable<ReadOnlyMemory<byte>> TopLevelRecords(ReadOnlyMemory<byte> body)
    {
        int pos = 0;
        while (pos < body.Length)
        {
            int start = pos;
            var span = body.Span;
            if (!ProtoWire.TryReadTag(span, ref pos, out _, out int wireType))
            {
                yield break;
            }

            ProtoWire.SkipValue(span, ref pos, wireType);
            yield return body[start..pos];
        }
    }

    internal static MessageParser ParserFor(Signal signal) => signal switch
    {
        Signal.Traces => ExportTraceServiceRequest.Parser,
        Signal.Metrics => ExportMetricsServiceRequest.Parser,
        _ => ExportLogsServiceRequest.Parser,
    };

    private readonly PartitionStateStore? _partitionState;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, long> _savedStateVersion = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, string?> _supersededState = new();

    /// <summary>
    /// Replaces the exporters' state of the partition with the snapshot its checkpoint references. A
    /// snapshot that is gone or unreadable starts the series over (a counter reset to the backend)
    /// rather than blocking the partition; a storage failure stops the drain, which is retried.
    /// </summary>
    public async Task RestoreStateAsync(FencedCheckpoint checkpoint, CancellationToken cancellationToken = default)
    {
        var exporters = _exporter.PartitionStateExporters.ToList();
        if (_partitionState == null || exporters.Count == 0 || IsReplayCursor(checkpoint))
        {
            return;
        }

        int partition = checkpoint.Partition;
        Dictionary<string, string>? snapshots = null;
        var data = await _partitionState.ReadAsync(checkpoint.State, cancellationToken);
        if (data == null && PartitionStateStore.BlobName(checkpoint.State) != null)
        {
            _logger.LogWarning("Partition {Partition}: the state snapshot {State} is gone; delta series restart from zero", partition, checkpoint.State);
        }
        else if (data != null)
        {
            try
            {
                snapshots = System.Text.Json.JsonSerializer.Deserialize(data.ToMemory().Span, CoreJsonContext.Default.DictionaryStringString);
            }
            catch (System.Text.Json.JsonException ex)
            {
                _logger.LogWarning(ex, "Partition {Partition}: the state snapshot {State} is unreadable; delta series restart from zero", partition, checkpoint.State);
            }
        }

        long version = 0;
        foreach (var (kind, exporter) in exporters)
        {
            string? snapshot = snapshots != null && snapshots.TryGetValue(StateName(kind), out var s) ? s : null;
            try
            {
                exporter.RestoreState(partition, snapshot);
            }
            catch (Exception ex) when (ex is FormatException or System.Text.Json.JsonException)
            {
                _logger.LogWarning(ex, "Partition {Partition}: the {Kind} state in {State} is unreadable; its delta series restart from zero", partition, kind, checkpoint.State);
                exporter.RestoreState(partition, null);
            }

            version += exporter.StateVersion(partition);
        }

        _savedStateVersion[partition] = version;
        _supersededState.TryRemove(partition, out _);
        try
        {
            // Saves that never became current (an owner died between save and checkpoint) and superseded ones.
            await _partitionState.DeleteOthersAsync(checkpoint, checkpoint.State, cancellationToken);
        }
        catch (Azure.RequestFailedException ex)
        {
            _logger.LogDebug(ex, "Partition {Partition}: cleaning old state snapshots failed; the next claim tries again", partition);
        }
    }

    /// <summary>
    /// Saved before every checkpoint whose batch changed delta totals, so a snapshot is never behind
    /// its checkpoint (a snapshot behind would lose the increments in between for good; one ahead is
    /// harmless, the converter skips points not newer than a series' last). Batches without delta
    /// changes write nothing, so traces, logs and cumulative metrics cost no extra write.
    /// </summary>
    public async Task<string?> SaveStateAsync(FencedCheckpoint checkpoint, CancellationToken cancellationToken = default)
    {
        var exporters = _exporter.PartitionStateExporters.ToList();
        if (_partitionState == null || exporters.Count == 0 || IsReplayCursor(checkpoint))
        {
            return null;
        }

        int partition = checkpoint.Partition;
        long version = exporters.Sum(e => e.Exporter.StateVersion(partition));
        if (_savedStateVersion.TryGetValue(partition, out long saved) && saved == version)
        {
            return null;
        }

        var snapshots = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (kind, exporter) in exporters)
        {
            if (exporter.SnapshotState(partition) is { } snapshot)
            {
                snapshots[StateName(kind)] = snapshot;
            }
        }

        // The one the row referenced before the previous save is no longer current once that save's checkpoint landed.
        if (_supersededState.TryRemove(partition, out var superseded) && superseded != null && superseded != checkpoint.State)
        {
            await _partitionState.DeleteAsync(superseded, cancellationToken);
        }

        string reference = await _partitionState.WriteAsync(checkpoint, BinaryData.FromObjectAsJson(snapshots, CoreJsonContext.Default.DictionaryStringString), cancellationToken);
        _supersededState[partition] = checkpoint.State;
        _savedStateVersion[partition] = version;
        return reference;
    }

    // The kind names snapshots were always saved under (the enum names lower-cased before kinds were strings).
    private static string StateName(string kind) => kind;

    /// <summary>
    /// A tenant replay cursor re-reads what the live drain already counted, through the same
    /// exporters: the partition's delta totals belong to the live checkpoint, so the cursor neither
    /// replaces them (that would reset the live series) nor saves them; its replayed points are
    /// skipped as not newer than what the series has.
    /// </summary>
    private static bool IsReplayCursor(FencedCheckpoint checkpoint) =>
        checkpoint.Group.StartsWith(ReplayCursor.GroupPrefix, StringComparison.Ordinal);

    private Task DeadLetterAsync(EventProperties props, string? destination, int partition, ReadEvent logEvent, string reason, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        _logger.LogWarning("Partition {Partition} position {Position}: dead-lettered for tenant {Tenant}: {Reason}", partition, logEvent.Position, props.Tenant, reason);
        return _deadLetters.WriteAsync(props.Tenant, destination, props.Signal, partition, logEvent.Position.Value, reason, body, cancellationToken);
    }
}
