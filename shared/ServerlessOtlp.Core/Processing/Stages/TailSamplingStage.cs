using System.Buffers.Binary;
using System.Collections.Concurrent;
using Google.Protobuf;
using OpenTelemetry.Proto.Collector.Trace.V1;
using OpenTelemetry.Proto.Trace.V1;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Pipeline;
using ServerlessOtlp.Pipeline.Sampling;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Processing.Stages;

/// <summary>
/// Tail sampling, the deferring stage. All spans of a trace land in one partition, so the
/// partition's drainer sees the whole trace: spans wait in the partition's <see cref="TailBuffer"/>
/// for the tenant's decision wait (received time), then the trace is decided by the tenant's
/// policies and a kept trace resumes the rest of the chain as any decoded request does. Only spans
/// of traces decided already (late spans) and spans without a trace id go on with their event.
/// Buffering happens only for partitions the drain claimed through <see cref="Reset"/>; a pipeline
/// used on its own (dead-letter redrive) passes everything on at once.
/// </summary>
internal sealed class TailSamplingStage(ITenantDirectory tenants, PipelineMetrics metrics, DeadLettering deadLetters, IDrainStage next) : IDrainStage, IEventDeferral
{
    private const string TailGateway = "tail-sampling";

    private readonly ConcurrentDictionary<int, TailBuffer> _tail = new();
    private readonly ConcurrentDictionary<string, (TailSamplingConfig Config, TailPolicySet Policies)> _tailPolicies = new(StringComparer.Ordinal);
    private long _tailKept;
    private long _tailDropped;
    private long _tailEarly;
    private long _tailLate;

    public long KeptTotal => Interlocked.Read(ref _tailKept);

    public long DroppedTotal => Interlocked.Read(ref _tailDropped);

    public long DecidedEarlyTotal => Interlocked.Read(ref _tailEarly);

    public long LateSpansTotal => Interlocked.Read(ref _tailLate);

    /// <summary>Moves the partition's clock to an event's received time, before anything else is done with the event.</summary>
    public void Observe(int partition, DateTimeOffset receivedAt) => BufferOf(partition)?.Observe(receivedAt);

    public Task<EventFate> ProcessAsync(EventContext item, CancellationToken cancellationToken)
    {
        if (item.Properties.Signal != Signal.Traces || BufferOf(item.Partition) is not { } buffer || ConfigOf(item.Tenant) is not { } config)
        {
            return next.ProcessAsync(item, cancellationToken);
        }

        var now = Defer(buffer, item.Tenant.Id, config, item.Event, (ExportTraceServiceRequest)item.Message!);
        if (now == null)
        {
            return EventContext.Completed(item.Fate);
        }

        item.Message = now;
        item.Bytes = now.ToByteArray();
        return next.ProcessAsync(item, cancellationToken);
    }

    public void Reset(int partition, DeferralLimits? limits)
    {
        if (limits == null)
        {
            _tail.TryRemove(partition, out _);
        }
        else
        {
            _tail[partition] = new TailBuffer(limits);
        }
    }

    public LogPosition? PendingFloor(int partition) => BufferOf(partition)?.Floor;

    public bool HasPending(int partition) => BufferOf(partition)?.HasPending == true;

    public async Task<FlushOutcome> FlushDueAsync(int partition, DateTimeOffset now, bool endOfLog, CancellationToken cancellationToken = default)
    {
        if (BufferOf(partition) is not { HasPending: true } buffer)
        {
            return default;
        }

        var decideAt = endOfLog && now > buffer.Watermark ? now : buffer.Watermark;
        var due = buffer.TakeDue(decideAt);
        int deadLettered = 0;
        foreach (var group in due.GroupBy(t => t.Tenant, StringComparer.Ordinal))
        {
            var traces = group.ToList();
            var position = traces.Min(t => t.Position);
            var tenant = await tenants.GetAsync(group.Key, cancellationToken);
            var policies = tenant == null ? null : PoliciesOf(tenant);
            var (kept, dropped, early) = Decide(traces, policies, buffer, decideAt);
            Interlocked.Add(ref _tailKept, kept.Count);
            Interlocked.Add(ref _tailDropped, dropped);
            Interlocked.Add(ref _tailEarly, early);
            metrics.TailDecided(group.Key, kept.Count, dropped, early);
            if (kept.Count == 0)
            {
                continue;
            }

            var request = TraceAssembly.Assemble(kept);
            var props = new EventProperties(group.Key, Signal.Traces, BodyCodec.Protobuf, kept.Count, decideAt, TailGateway);
            var at = new ReadEvent(position, position, props, default);
            if (tenant == null)
            {
                await deadLetters.WriteAsync(partition, at, null, $"tenant \"{group.Key}\" is not configured", request.ToByteArray(), cancellationToken);
                deadLettered++;
                continue;
            }

            // The rest of the chain, as for an event (its local work is not timed: it is the flush's).
            var fate = await next.ProcessAsync(new EventContext(tenant, partition, at) { Message = request, Bytes = request.ToByteArray() }, cancellationToken);
            if (fate == EventFate.RetryLater)
            {
                // The drain stops and re-reads from a checkpoint below these traces: they are decided again.
                return new FlushOutcome(deadLettered, true);
            }

            deadLettered += fate == EventFate.DeadLettered ? 1 : 0;
        }

        return new FlushOutcome(deadLettered, false);
    }

    /// <summary>Each due trace of one tenant decided by its policies (remembered for late spans); a tenant without policies keeps all.</summary>
    private static (List<BufferedSpan> Kept, long Dropped, long Early) Decide(List<PendingTrace> traces, TailPolicySet? policies, TailBuffer buffer, DateTimeOffset decideAt)
    {
        var kept = new List<BufferedSpan>();
        long dropped = 0, early = 0;
        foreach (var trace in traces)
        {
            early += trace.Early ? 1 : 0;
            if (policies == null)
            {
                // The tenant stopped tail sampling (or is gone) while the trace waited: it goes on unchanged.
                kept.AddRange(trace.Spans);
                continue;
            }

            var decision = policies.Decide(trace.Spans, decideAt, buffer.Rates, buffer.Limits.PartitionCount);
            buffer.Remember(trace.Tenant, trace.TraceId, decision);
            if (decision.Keep)
            {
                foreach (var s in trace.Spans)
                {
                    TailPolicySet.Mark(s.Span, decision.Threshold);
                }

                kept.AddRange(trace.Spans);
            }
            else
            {
                dropped += trace.Spans.Count;
            }
        }

        return (kept, dropped, early);
    }

    private TailBuffer? BufferOf(int partition) => _tail.TryGetValue(partition, out var buffer) ? buffer : null;

    private static TailSamplingConfig? ConfigOf(TenantConfig tenant) =>
        tenant.Sampling?.Tail is { Policies.Count: > 0 } tail ? tail : null;

    private TailPolicySet? PoliciesOf(TenantConfig tenant)
    {
        if (ConfigOf(tenant) is not { } config)
        {
            return null;
        }

        var entry = _tailPolicies.AddOrUpdate(
            tenant.Id,
            _ => (config, new TailPolicySet(config)),
            (_, existing) => ReferenceEquals(existing.Config, config) ? existing : (config, new TailPolicySet(config)));
        return entry.Policies;
    }

    /// <summary>
    /// Buffers the request's spans by trace; returns what goes on at once (spans of traces already
    /// decided that were kept, spans without a valid trace id), or null when nothing does.
    /// </summary>
    private ExportTraceServiceRequest? Defer(TailBuffer buffer, string tenant, TailSamplingConfig config, ReadEvent logEvent, ExportTraceServiceRequest request)
    {
        var now = new List<BufferedSpan>();
        long lateKept = 0, lateDropped = 0;
        foreach (var rs in request.ResourceSpans)
        {
            var resource = new ResourceSpans { Resource = rs.Resource, SchemaUrl = rs.SchemaUrl };
            foreach (var ss in rs.ScopeSpans)
            {
                var scope = new ScopeSpans { Scope = ss.Scope, SchemaUrl = ss.SchemaUrl };
                foreach (var span in ss.Spans)
                {
                    var item = new BufferedSpan(resource, scope, span);
                    if (span.TraceId.Length != 16)
                    {
                        now.Add(item); // not part of a trace: nothing to wait for
                        continue;
                    }

                    var traceId = BinaryPrimitives.ReadUInt128BigEndian(span.TraceId.Span);
                    if (buffer.TryGetDecision(tenant, traceId, out var decision))
                    {
                        if (decision.Keep)
                        {
                            TailPolicySet.Mark(span, decision.Threshold);
                            now.Add(item);
                            lateKept++;
                        }
                        else
                        {
                            lateDropped++;
                        }

                        continue;
                    }

                    buffer.Add(tenant, traceId, item, logEvent.Position, logEvent.Properties!.ReceivedAt, config.DecisionWait);
                }
            }
        }

        if (lateKept + lateDropped > 0)
        {
            Interlocked.Add(ref _tailLate, lateKept + lateDropped);
            Interlocked.Add(ref _tailKept, lateKept);
            Interlocked.Add(ref _tailDropped, lateDropped);
            if (lateKept > 0)
            {
                metrics.TailLateSpans(tenant, true, lateKept);
            }

            if (lateDropped > 0)
            {
                metrics.TailLateSpans(tenant, false, lateDropped);
            }
        }

        return now.Count == 0 ? null : TraceAssembly.Assemble(now);
    }
}
