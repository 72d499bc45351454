using Google.Protobuf;
using OpenTelemetry.Proto.Collector.Logs.V1;
using OpenTelemetry.Proto.Collector.Metrics.V1;
using OpenTelemetry.Proto.Collector.Trace.V1;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Otlp.Wire;

namespace ServerlessOtlp.Processing.Stages;

/// <summary>
/// Decodes the event's body into its signal's export request. An event merges the requests of
/// several clients, so when the whole does not parse, each top-level (resource) record that does
/// goes on and the rest is dead-lettered; the event's fate is then dead-lettered whatever follows.
/// </summary>
internal sealed class DecodeStage(DeadLettering deadLetters, IDrainStage next) : IDrainStage
{
    public Task<EventFate> ProcessAsync(EventContext item, CancellationToken cancellationToken)
    {
        var body = item.Event.Body;
        try
        {
            item.Message = ParserFor(item.Properties.Signal).ParseFrom(body.Span);
        }
        catch (InvalidProtocolBufferException ex)
        {
            return SalvageAsync(item, ex, cancellationToken);
        }

        item.Bytes = body;
        return next.ProcessAsync(item, cancellationToken);
    }

    /// <summary>The parser of a signal's export request.</summary>
    public static MessageParser ParserFor(Signal signal) => signal switch
    {
        Signal.Traces => ExportTraceServiceRequest.Parser,
        Signal.Metrics => ExportMetricsServiceRequest.Parser,
        _ => ExportLogsServiceRequest.Parser,
    };

    private async Task<EventFate> SalvageAsync(EventContext item, InvalidProtocolBufferException ex, CancellationToken cancellationToken)
    {
        var props = item.Properties;
        var parser = ParserFor(props.Signal);
        var body = item.Event.Body;
        var good = new MemoryStream();
        var bad = new MemoryStream();
        try
        {
            foreach (var record in TopLevelRecords(body))
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
            bad.Write(body.Span);
        }

        await deadLetters.WriteAsync(item.Partition, item.Event, null, "undecodable " + props.Signal.ToName() + " data: " + ex.Message, bad.ToArray(), cancellationToken);
        item.Fate = EventFate.DeadLettered;
        if (good.Length == 0)
        {
            return EventFate.DeadLettered;
        }

        var bytes = good.ToArray();
        item.Message = parser.ParseFrom(bytes);
        item.Bytes = bytes;
        return await next.ProcessAsync(item, cancellationToken);
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
}
