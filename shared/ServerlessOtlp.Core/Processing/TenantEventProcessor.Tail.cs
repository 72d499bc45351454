using System.Buffers.Binary;
using System.Collections.Concurrent;
using Google.Protobuf;
using OpenTelemetry.Proto.Collector.Trace.V1;
using OpenTelemetry.Proto.Trace.V1;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Pipeline.Sampling;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Processing;

/// <summary>
/// Tail sampling in the drain. All spans of a trace land in one partition, so the partition's
/// drainer sees the whole trace: spans wait in the partition's <see cref="TailBuffer"/> for the
/// tenant's decision wait (received time), then the trace is decided by the tenant's policies and
/// a kept trace goes through the same delivery as any decoded request (transforms, routing,
/// export). Buffering happens only for partitions the drain engine claimed through
/// <see cref="Reset"/>; a processor used on its own (dead-letter redrive) delivers at once.
/// </summary>
public sealed partial class TenantEventProcessor
{
    private const string TailGateway = "tail-sampling";

    private readonly ConcurrentDictionary<int, TailBuffer> _tail = new();
    private readonly ConcurrentDictionary<string, (TailSamplingConfig Config, TailPolicySet Policies)> _tailPolicies = new(StringComparer.Ordinal);
    private long _tailKept;
    private long _tailDropped;
    private long _tailEarly;
    private long _tailLate;

    /// <summary>Spans kept by tail sampling (late spans of kept traces included).</summary>
    public long TailKeptTotal => Interlocked.Read(ref _tailKept);

    /// <summary>Spans dropped by tail sampling (late spans of dropped traces included).</summary>
    public long TailDroppedTotal => Interlocked.Read(ref _tailDropped);

    /// <summary>Traces decided before their wait because a partition's buffer was full.</summary>
    public long TailDecidedEarlyTotal => Interlocked.Read(ref _tailEarly);

    /// <summary>Spans that arrived after their trace was decided and followed the cached decision.</summary>
    public long TailLateSpansTotal => Interlocked.Read(ref _tailLate);

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

    public LogPosition? PendingFloor(int partition) => TailBufferOf(partition)?.Floor;

    public bool HasPending(int partition) => TailBufferOf(partition)?.HasPending == true;

    public async Task<FlushOutcome> FlushDueAsync(int partition, DateTimeOffset now, bool endOfLog, CancellationToken cancellationToken = default)
    {
        if (TailBufferOf(partition) is not { HasPending: true } buffer)
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
            var tenant = await _tenants.GetAsync(group.Key, cancellationToken);
            var policies = tenant == null ? null : PoliciesOf(tenant);
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

            Interlocked.Add(ref _tailKept, kept.Count);
            Interlocked.Add(ref _tailDropped, dropped);
            Interlocked.Add(ref _tailEarly, early);
            _metrics.TailDecided(group.Key, kept.Count, dropped, early);
            if (kept.Count == 0)
            {
                continue;
            }

            var request = Assemble(kept);
            var props = new EventProperties(group.Key, Signal.Traces, BodyCodec.Protobuf, kept.Count, decideAt, TailGateway);
            var at = new ReadEvent(position, position, props, default);
            if (tenant == null)
            {
                await DeadLetterAsync(props, null, partition, at, $"tenant \"{group.Key}\" is not configured", request.ToByteArray(), cancellationToken);
                deadLettered++;
                continue;
            }

            var fate = await DeliverDecodedAsync(tenant, partition, at, request, request.ToByteArray(), EventFate.Delivered, cancellationToken);
            if (fate == EventFate.RetryLater)
            {
                // The drain stops and re-reads from a checkpoint below these traces: they are decided again.
                return new FlushOutcome(deadLettered, true);
            }

            deadLettered += fate == EventFate.DeadLettered ? 1 : 0;
        }

        return new FlushOutcome(deadLettered, false);
    }

    private TailBuffer? TailBufferOf(int partition) => _tail.TryGetValue(partition, out var buffer) ? buffer : null;

    private static TailSamplingConfig? TailConfigOf(TenantConfig tenant) =>
        tenant.Sampling?.Tail is { Policies.Count: > 0 } tail ? tail : null;

    private TailPolicySet? PoliciesOf(TenantConfig tenant)
    {
        if (TailConfigOf(tenant) is not { } config)
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
                _metrics.TailLateSpans(tenant, true, lateKept);
            }

            if (lateDropped > 0)
            {
                _metrics.TailLateSpans(tenant, false, lateDropped);
            }
        }

        return now.Count == 0 ? null : Assemble(now);
    }

    /// <summary>
    /// Builds a request from buffered spans, grouped under their resource and scope. Resources and
    /// scopes are cloned: the shells are shared with spans still waiting, and transforms change the
    /// request in place.
    /// </summary>
    private static ExportTraceServiceRequest Assemble(List<BufferedSpan> spans)
    {
        var request = new ExportTraceServiceRequest();
        var resources = new Dictionary<ResourceSpans, ResourceSpans>(ReferenceEqualityComparer.Instance);
        var scopes = new Dictionary<ScopeSpans, ScopeSpans>(ReferenceEqualityComparer.Instance);
        foreach (var s in spans)
        {
            if (!scopes.TryGetValue(s.Scope, out var scope))
            {
                if (!resources.TryGetValue(s.Resource, out var resource))
                {
                    resource = new ResourceSpans { Resource = s.Resource.Resource?.Clone(), SchemaUrl = s.Resource.SchemaUrl };
                    resources.Add(s.Resource, resource);
                    request.ResourceSpans.Add(resource);
                }

                scope = new ScopeSpans { Scope = s.Scope.Scope?.Clone(), SchemaUrl = s.Scope.SchemaUrl };
                scopes.Add(s.Scope, scope);
                resource.ScopeSpans.Add(scope);
            }

            scope.Spans.Add(s.Span);
        }

        return request;
    }
}
