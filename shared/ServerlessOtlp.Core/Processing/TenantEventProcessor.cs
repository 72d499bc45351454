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
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Processing;

/// <summary>
/// The per-tenant pipeline behind the drain: decode the event, then deliver it to each of the
/// tenant's destinations for its signal. Undecodable data and permanent refusals go to the
/// dead-letter store; a transient failure asks the drain to retry from this event later.
/// (Sampling, transforms and routing conditions come with the pipeline issue.)
/// </summary>
public sealed class TenantEventProcessor : IEventProcessor
{
    private readonly ITenantDirectory _tenants;
    private readonly IReadOnlyDictionary<DestinationKind, IDestinationExporter> _exporters;
    private readonly DeadLetterStore _deadLetters;
    private readonly ILogger _logger;

    public TenantEventProcessor(ITenantDirectory tenants, IEnumerable<IDestinationExporter> exporters, DeadLetterStore deadLetters, ILogger<TenantEventProcessor>? logger = null)
    {
        _tenants = tenants;
        _exporters = exporters.ToDictionary(e => e.Kind);
        _deadLetters = deadLetters;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    public async Task<EventFate> ProcessAsync(int partition, ReadEvent logEvent, CancellationToken cancellationToken = default)
    {
        var props = logEvent.Properties!;
        var tenant = await _tenants.GetAsync(props.Tenant, cancellationToken);
        if (tenant == null)
        {
            await DeadLetterAsync(props, null, partition, logEvent, $"tenant \"{props.Tenant}\" is not configured", logEvent.Body, cancellationToken);
            return EventFate.DeadLettered;
        }

        var (message, bytes, fate) = await DecodeAsync(partition, logEvent, cancellationToken);
        if (message == null)
        {
            return fate;
        }

        var result = fate;
        foreach (var destination in tenant.Destinations)
        {
            if (!destination.Signals.Contains(props.Signal))
            {
                continue;
            }

            if (!_exporters.TryGetValue(destination.Kind, out var exporter))
            {
                await DeadLetterAsync(props, destination.Name, partition, logEvent, $"destination kind {destination.Kind} is not available in this build", bytes, cancellationToken);
                result = EventFate.DeadLettered;
                continue;
            }

            ExportOutcome outcome;
            try
            {
                outcome = await exporter.ExportAsync(new ExportRequest(tenant, destination, props.Signal, message, bytes), cancellationToken);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                outcome = new ExportOutcome(ExportStatus.Transient, "timed out");
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                outcome = new ExportOutcome(ExportStatus.Transient, ex.Message);
            }

            switch (outcome.Status)
            {
                case ExportStatus.Permanent:
                    await DeadLetterAsync(props, destination.Name, partition, logEvent, outcome.Message ?? "refused", bytes, cancellationToken);
                    result = EventFate.DeadLettered;
                    break;
                case ExportStatus.Transient:
                    _logger.LogWarning("Tenant {Tenant} destination {Destination}: {Message}; partition {Partition} retries later", tenant.Id, destination.Name, outcome.Message, partition);
                    return EventFate.RetryLater;
            }
        }

        return result;
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

    private Task DeadLetterAsync(EventProperties props, string? destination, int partition, ReadEvent logEvent, string reason, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        _logger.LogWarning("Partition {Partition} position {Position}: dead-lettered for tenant {Tenant}: {Reason}", partition, logEvent.Position, props.Tenant, reason);
        return _deadLetters.WriteAsync(props.Tenant, destination, props.Signal, partition, logEvent.Position.Value, reason, body, cancellationToken);
    }
}
