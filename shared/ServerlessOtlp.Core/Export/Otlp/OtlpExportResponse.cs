using Google.Protobuf;
using OpenTelemetry.Proto.Collector.Logs.V1;
using OpenTelemetry.Proto.Collector.Metrics.V1;
using OpenTelemetry.Proto.Collector.Trace.V1;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Otlp.Json;

namespace ServerlessOtlp.Export.Otlp;

/// <summary>
/// Reads an OTLP <c>Export*ServiceResponse</c> into an outcome: success, or a partial success whose
/// rejected items are counted and not retried (the specification: "the client MUST NOT retry").
/// </summary>
internal static class OtlpExportResponse
{
    public static ExportOutcome FromProtobuf(Signal signal, ReadOnlySpan<byte> body)
    {
        if (body.IsEmpty)
        {
            return ExportOutcome.Ok;
        }

        try
        {
            return signal switch
            {
                Signal.Traces => From(ExportTraceServiceResponse.Parser.ParseFrom(body)),
                Signal.Metrics => From(ExportMetricsServiceResponse.Parser.ParseFrom(body)),
                _ => From(ExportLogsServiceResponse.Parser.ParseFrom(body)),
            };
        }
        catch (InvalidProtocolBufferException)
        {
            // The data was accepted (2xx / OK); an unreadable answer does not make it undelivered.
            return ExportOutcome.Ok;
        }
    }

    public static ExportOutcome FromJson(Signal signal, ReadOnlySpan<byte> body)
    {
        if (body.IsEmpty || body.Trim(" \r\n\t"u8).SequenceEqual("{}"u8))
        {
            return ExportOutcome.Ok;
        }

        try
        {
            return signal switch
            {
                Signal.Traces => From(OtlpJson.Parse<ExportTraceServiceResponse>(body)),
                Signal.Metrics => From(OtlpJson.Parse<ExportMetricsServiceResponse>(body)),
                _ => From(OtlpJson.Parse<ExportLogsServiceResponse>(body)),
            };
        }
        catch (OtlpJsonException)
        {
            return ExportOutcome.Ok;
        }
    }

    private static ExportOutcome From(ExportTraceServiceResponse r) => Partial(r.PartialSuccess?.RejectedSpans ?? 0, r.PartialSuccess?.ErrorMessage, "spans");

    private static ExportOutcome From(ExportMetricsServiceResponse r) => Partial(r.PartialSuccess?.RejectedDataPoints ?? 0, r.PartialSuccess?.ErrorMessage, "data points");

    private static ExportOutcome From(ExportLogsServiceResponse r) => Partial(r.PartialSuccess?.RejectedLogRecords ?? 0, r.PartialSuccess?.ErrorMessage, "log records");

    private static ExportOutcome Partial(long rejected, string? message, string what) =>
        rejected == 0 && string.IsNullOrEmpty(message)
            ? ExportOutcome.Ok
            : new ExportOutcome(ExportStatus.Success, $"partial success: {rejected} {what} rejected{(string.IsNullOrEmpty(message) ? "" : ": " + message)}", rejected);
}
