using System.Collections.Concurrent;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Otlp.Wire;
using ServerlessOtlp.Pipeline.Sampling;

namespace ServerlessOtlp.Processing.Stages;

/// <summary>
/// The head of the pipeline: the tenant's consistent trace sampling applied on the wire, to spans
/// and to log records by their trace id, so a dropped item is never decoded. Metrics and tenants
/// without sampling pass through untouched.
/// </summary>
internal sealed class WireSamplingStage(IDrainStage next) : IDrainStage
{
    private readonly ConcurrentDictionary<string, (long Version, TraceSampler? Sampler)> _samplers = new(StringComparer.Ordinal);
    private long _sampledOut;

    /// <summary>Items dropped by head sampling (spans, and log records by their trace id).</summary>
    public long SampledOutTotal => Interlocked.Read(ref _sampledOut);

    public Task<EventFate> ProcessAsync(EventContext item, CancellationToken cancellationToken)
    {
        var signal = item.Properties.Signal;
        if (signal == Signal.Metrics || item.Tenant.Sampling?.Traces is not { } config)
        {
            return next.ProcessAsync(item, cancellationToken);
        }

        var tenant = item.Tenant;
        var entry = _samplers.AddOrUpdate(
            tenant.Id,
            _ => (tenant.Version, TraceSampler.For(config)),
            (_, existing) => existing.Version == tenant.Version && existing.Sampler != null ? existing : (tenant.Version, TraceSampler.For(config)));
        var buffer = new PooledBuffer(item.Event.Body.Length);
        WireSampler.Counts counts;
        try
        {
            counts = signal == Signal.Traces
                ? WireSampler.SampleTraces(item.Event.Body.Span, entry.Sampler!, buffer)
                : WireSampler.SampleLogs(item.Event.Body.Span, entry.Sampler!, buffer);
        }
        catch (InvalidDataException)
        {
            buffer.Dispose();
            return next.ProcessAsync(item, cancellationToken); // undecodable: the decoder dead-letters it with its reason
        }

        Interlocked.Add(ref _sampledOut, counts.Dropped);
        item.SampledBody = buffer; // the composer returns it to the pool when the event is done
        if (counts.Kept == 0)
        {
            return EventContext.Completed(EventFate.Delivered);
        }

        item.Event = item.Event with { Body = buffer.WrittenMemory };
        return next.ProcessAsync(item, cancellationToken);
    }
}
