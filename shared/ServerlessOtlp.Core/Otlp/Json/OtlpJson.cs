using System.Buffers;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using OpenTelemetry.Proto.Collector.Logs.V1;
using OpenTelemetry.Proto.Collector.Metrics.V1;
using OpenTelemetry.Proto.Collector.Trace.V1;

namespace ServerlessOtlp.Otlp.Json;

/// <summary>
/// The OTLP/JSON encoding (OTLP specification, "JSON Protobuf Encoding") on top of Google.Protobuf's
/// <see cref="JsonParser"/> and <see cref="JsonFormatter"/>. The protobuf JSON mapping is what those do;
/// the OTLP differences are made by one schema-aware streaming pass over the UTF-8 JSON
/// (<see cref="Utf8JsonReader"/>, no DOM) that splices only the tokens that need it:
/// <list type="bullet">
/// <item>bytes fields named <c>trace_id</c>, <c>span_id</c>, <c>parent_span_id</c> (spans, links, log records,
/// exemplars): hex on the wire (any case in, lowercase out), base64 for Google.Protobuf;</item>
/// <item>64-bit integer fields sent as JSON numbers are quoted before Google.Protobuf sees them, because its
/// tokenizer reads every number as a <see cref="double"/> and would round nanosecond timestamps above 2^53;</item>
/// <item>value types are checked against the schema, so errors name the field and the line and column;</item>
/// <item>the output is compacted to one line (the formatter puts spaces after <c>:</c> and <c>,</c>).</item>
/// </list>
/// Field names: lowerCamelCase out, lowerCamelCase or the proto names in. Enums: integers out, integers or
/// names in. Unknown fields are ignored. Default values are omitted on output.
/// </summary>
public static class OtlpJson
{
    /// <summary>
    /// Deepest JSON nesting accepted (objects and arrays both count). OTLP's only recursion is AnyValue:
    /// each kvlist level costs 4 JSON levels and 3 messages, each array level 3 JSON levels and 2 messages,
    /// so 128 allows about 30 levels of attribute nesting and keeps the protobuf we produce under
    /// Google.Protobuf's default recursion limit of 100 messages (<see cref="MaxMessageDepth"/>).
    /// </summary>
    public const int MaxJsonDepth = 128;

    /// <summary>Message nesting limit handed to <see cref="JsonParser"/>: <c>CodedInputStream</c>'s default of 100.</summary>
    public const int MaxMessageDepth = 100;

    private static readonly JsonParser Parser = new(
        JsonParser.Settings.Default.WithIgnoreUnknownFields(true).WithRecursionLimit(MaxMessageDepth));

    private static readonly JsonFormatter Formatter = new(
        JsonFormatter.Settings.Default.WithFormatEnumsAsIntegers(true));

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Parses an OTLP/JSON export request of <paramref name="signal"/> and returns its protobuf encoding.</summary>
    /// <exception cref="OtlpJsonException">The input is not a valid OTLP/JSON export request.</exception>
    public static byte[] JsonToProtobuf(Signal signal, ReadOnlySpan<byte> utf8Json) => signal switch
    {
        Signal.Traces => Parse<ExportTraceServiceRequest>(utf8Json).ToByteArray(),
        Signal.Metrics => Parse<ExportMetricsServiceRequest>(utf8Json).ToByteArray(),
        Signal.Logs => Parse<ExportLogsServiceRequest>(utf8Json).ToByteArray(),
        _ => throw new ArgumentOutOfRangeException(nameof(signal)),
    };

    /// <summary>Formats a protobuf-encoded export request of <paramref name="signal"/> as one line of OTLP/JSON (UTF-8).</summary>
    /// <exception cref="InvalidProtocolBufferException">The input is not a valid protobuf export request.</exception>
    public static byte[] ProtobufToJson(Signal signal, ReadOnlySpan<byte> protobuf)
    {
        IMessage message = signal switch
        {
            Signal.Traces => ExportTraceServiceRequest.Parser.ParseFrom(protobuf),
            Signal.Metrics => ExportMetricsServiceRequest.Parser.ParseFrom(protobuf),
            Signal.Logs => ExportLogsServiceRequest.Parser.ParseFrom(protobuf),
            _ => throw new ArgumentOutOfRangeException(nameof(signal)),
        };
        using var buffer = new PooledUtf8Writer(protobuf.Length * 2);
        WriteTo(message, buffer);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Parses OTLP/JSON (UTF-8, optionally with a byte order mark) into a message of type <typeparamref name="T"/>.</summary>
    /// <exception cref="OtlpJsonException">The input is not valid OTLP/JSON for <typeparamref name="T"/>.</exception>
    public static T Parse<T>(ReadOnlySpan<byte> utf8Json)
        where T : IMessage<T>, new()
    {
        if (utf8Json.StartsWith("\uFEFF"u8))
        {
            utf8Json = utf8Json[3..];
        }

        using var buffer = new PooledUtf8Writer(utf8Json.Length + 256);
        OtlpJsonRewriter.Rewrite(utf8Json, RootSchema<T>.Value, toProtobufJson: true, buffer);
        try
        {
            using var text = new StreamReader(buffer.AsStream(), StrictUtf8, detectEncodingFromByteOrderMarks: false,
                bufferSize: Math.Clamp(buffer.WrittenSpan.Length, 256, 16 * 1024));
            return Parser.Parse<T>(text);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new OtlpJsonException($"invalid OTLP/JSON: {e.Message}", e);
        }
        catch (InvalidJsonException e)
        {
            throw new OtlpJsonException($"invalid JSON: {e.Message}", e);
        }
        catch (DecoderFallbackException e)
        {
            throw new OtlpJsonException("invalid JSON: the input is not valid UTF-8", e);
        }
    }

    /// <summary>Formats <paramref name="message"/> as one line of OTLP/JSON.</summary>
    public static string Format(IMessage message)
    {
        using var buffer = new PooledUtf8Writer(1024);
        WriteTo(message, buffer);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Writes <paramref name="message"/> as one line of OTLP/JSON (UTF-8, no trailing newline).</summary>
    public static void WriteTo(IMessage message, Stream destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        using var buffer = new PooledUtf8Writer(1024);
        WriteTo(message, buffer);
        destination.Write(buffer.WrittenSpan);
    }

    /// <summary>Writes <paramref name="message"/> as one line of OTLP/JSON (UTF-8, no trailing newline).</summary>
    public static void WriteTo(IMessage message, IBufferWriter<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(destination);
        string json = Formatter.Format(message);
        byte[] utf8 = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(json.Length));
        try
        {
            int length = Encoding.UTF8.GetBytes(json, utf8);
            OtlpJsonRewriter.Rewrite(utf8.AsSpan(0, length), MessageSchema.For(message.Descriptor), toProtobufJson: false, destination);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(utf8);
        }
    }

    private static class RootSchema<T>
        where T : IMessage<T>, new()
    {
        public static readonly MessageSchema Value = MessageSchema.For(new T().Descriptor);
    }
}
