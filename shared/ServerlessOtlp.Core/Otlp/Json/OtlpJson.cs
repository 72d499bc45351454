using System.Buffers;
using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.Reflection;
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

/// <summary>OTLP/JSON input that cannot be decoded; the message says what and, when known, where.</summary>
public sealed class OtlpJsonException : FormatException
{
    public OtlpJsonException()
    {
    }

    public OtlpJsonException(string message)
        : base(message)
    {
    }

    public OtlpJsonException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>How the streaming pass treats a field's value.</summary>
internal enum JsonFieldKind : byte
{
    Message,

    /// <summary>trace_id, span_id, parent_span_id: hex in OTLP/JSON, base64 in the protobuf JSON mapping.</summary>
    HexId,
    Bytes,
    String,
    Bool,

    /// <summary>int64, uint64, sint64, fixed64, sfixed64: quoted before Google.Protobuf parses them as double.</summary>
    Int64,
    Number,
    Enum,

    /// <summary>Maps, groups and well-known types: left entirely to Google.Protobuf.</summary>
    Opaque,
}

internal sealed class FieldSchema
{
    private readonly MessageDescriptor? _messageType;
    private MessageSchema? _message;

    public FieldSchema(FieldDescriptor field)
    {
        JsonName = field.JsonName;
        ProtoName = field.Name;
        JsonNameUtf8 = Encoding.UTF8.GetBytes(field.JsonName);
        ProtoNameUtf8 = Encoding.UTF8.GetBytes(field.Name);
        IsRepeated = field.IsRepeated && !field.IsMap;
        Kind = KindOf(field);
        if (Kind == JsonFieldKind.Message)
        {
            _messageType = field.MessageType;
        }
    }

    public string JsonName { get; }

    public string ProtoName { get; }

    public byte[] JsonNameUtf8 { get; }

    public byte[] ProtoNameUtf8 { get; }

    public bool IsRepeated { get; }

    public JsonFieldKind Kind { get; }

    /// <summary>Resolved lazily: the schema is recursive (AnyValue → KeyValueList → KeyValue → AnyValue).</summary>
    public MessageSchema Message => _message ??= MessageSchema.For(_messageType!);

    private static JsonFieldKind KindOf(FieldDescriptor field)
    {
        if (field.IsMap)
        {
            return JsonFieldKind.Opaque;
        }

        return field.FieldType switch
        {
            // Well-known types (google.protobuf.*) have their own JSON forms.
            FieldType.Message => field.MessageType.File.Package == "google.protobuf" ? JsonFieldKind.Opaque : JsonFieldKind.Message,
            FieldType.Bytes => field.Name is "trace_id" or "span_id" or "parent_span_id" ? JsonFieldKind.HexId : JsonFieldKind.Bytes,
            FieldType.String => JsonFieldKind.String,
            FieldType.Bool => JsonFieldKind.Bool,
            FieldType.Int64 or FieldType.UInt64 or FieldType.SInt64 or FieldType.Fixed64 or FieldType.SFixed64 => JsonFieldKind.Int64,
            FieldType.Int32 or FieldType.UInt32 or FieldType.SInt32 or FieldType.Fixed32 or FieldType.SFixed32
                or FieldType.Double or FieldType.Float => JsonFieldKind.Number,
            FieldType.Enum => JsonFieldKind.Enum,
            _ => JsonFieldKind.Opaque,
        };
    }
}

internal sealed class MessageSchema
{
    private static readonly ConcurrentDictionary<MessageDescriptor, MessageSchema> Cache = new();

    private readonly FieldSchema[] _fields;

    private MessageSchema(MessageDescriptor descriptor)
    {
        var fields = descriptor.Fields.InDeclarationOrder();
        _fields = new FieldSchema[fields.Count];
        for (int i = 0; i < _fields.Length; i++)
        {
            _fields[i] = new FieldSchema(fields[i]);
        }
    }

    public static MessageSchema For(MessageDescriptor descriptor) => Cache.GetOrAdd(descriptor, static d => new MessageSchema(d));

    /// <summary>The field the reader's current property name denotes (JSON name or proto name, like JsonParser), or null.</summary>
    public FieldSchema? Find(ref Utf8JsonReader reader)
    {
        if (!reader.ValueIsEscaped)
        {
            ReadOnlySpan<byte> name = reader.ValueSpan;
            foreach (var field in _fields)
            {
                if (name.SequenceEqual(field.JsonNameUtf8) || name.SequenceEqual(field.ProtoNameUtf8))
                {
                    return field;
                }
            }

            return null;
        }

        string unescaped = reader.GetString()!;
        foreach (var field in _fields)
        {
            if (unescaped == field.JsonName || unescaped == field.ProtoName)
            {
                return field;
            }
        }

        return null;
    }
}

/// <summary>
/// The streaming pass between OTLP/JSON and the protobuf JSON mapping. It walks the JSON with the message
/// schema, validates value types, and copies the input to the output verbatim except for the tokens it
/// rewrites (ids, and 64-bit numbers on the way in; ids and formatter whitespace on the way out).
/// </summary>
internal static class OtlpJsonRewriter
{
    /// <summary>Formatter output is trusted, but a message parsed from protobuf may nest 100 messages, i.e. more JSON levels.</summary>
    private const int MaxFormattedJsonDepth = 1024;

    /// <summary>Longest field value quoted in an error message.</summary>
    private const int MaxQuotedLength = 64;

    private static readonly JsonReaderOptions InputOptions = new()
    {
        MaxDepth = OtlpJson.MaxJsonDepth,
        CommentHandling = JsonCommentHandling.Disallow,
        AllowTrailingCommas = false,
    };

    private static readonly JsonReaderOptions FormattedOptions = new() { MaxDepth = MaxFormattedJsonDepth };

    private static ReadOnlySpan<byte> HexDigits => "0123456789abcdef"u8;

    private readonly record struct Frame(MessageSchema? Object, FieldSchema? ArrayOf);

    /// <param name="toProtobufJson">true: OTLP/JSON → protobuf JSON (untrusted input); false: formatter output → OTLP/JSON.</param>
    public static void Rewrite(ReadOnlySpan<byte> json, MessageSchema root, bool toProtobufJson, IBufferWriter<byte> output)
    {
        var reader = new Utf8JsonReader(json, toProtobufJson ? InputOptions : FormattedOptions);
        bool compact = !toProtobufJson;
        var frames = new Frame[16];
        int depth = 0;
        int copied = 0;
        FieldSchema? property = null;
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                throw Error(json, reader.TokenStartIndex, "expected a JSON object");
            }

            frames[depth++] = new Frame(root, null);
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.PropertyName:
                        property = frames[depth - 1].Object!.Find(ref reader);
                        if (property is null || property.Kind == JsonFieldKind.Opaque)
                        {
                            reader.Skip(); // unknown fields are ignored (and JsonParser skips them too)
                        }

                        continue;
                    case JsonTokenType.EndObject:
                    case JsonTokenType.EndArray:
                        depth--;
                        continue;
                }

                // A value: of the current property, or an element of the current repeated field.
                FieldSchema? element = frames[depth - 1].ArrayOf;
                FieldSchema field = element ?? property!;
                if (reader.TokenType == JsonTokenType.Null)
                {
                    if (element is not null)
                    {
                        throw Error(json, reader.TokenStartIndex, $"{field.JsonName}: array elements cannot be null");
                    }

                    continue; // null means the default value
                }

                if (field.IsRepeated && element is null)
                {
                    if (reader.TokenType != JsonTokenType.StartArray)
                    {
                        throw TypeError(json, ref reader, field, "an array");
                    }

                    Push(ref frames, ref depth, new Frame(null, field));
                    continue;
                }

                switch (field.Kind)
                {
                    case JsonFieldKind.Message:
                        if (reader.TokenType != JsonTokenType.StartObject)
                        {
                            throw TypeError(json, ref reader, field, "an object");
                        }

                        Push(ref frames, ref depth, new Frame(field.Message, null));
                        break;
                    case JsonFieldKind.HexId:
                        if (reader.TokenType != JsonTokenType.String)
                        {
                            throw TypeError(json, ref reader, field, "a hex string");
                        }

                        CopyUpTo(json, ref copied, (int)reader.TokenStartIndex, compact, output);
                        if (toProtobufJson)
                        {
                            WriteHexAsBase64(json, ref reader, field, output);
                        }
                        else
                        {
                            WriteBase64AsHex(ref reader, output);
                        }

                        copied = (int)reader.BytesConsumed;
                        break;
                    case JsonFieldKind.Bytes:
                    case JsonFieldKind.String:
                        if (reader.TokenType != JsonTokenType.String)
                        {
                            throw TypeError(json, ref reader, field, "a string");
                        }

                        break;
                    case JsonFieldKind.Bool:
                        if (reader.TokenType is not (JsonTokenType.True or JsonTokenType.False))
                        {
                            throw TypeError(json, ref reader, field, "true or false");
                        }

                        break;
                    case JsonFieldKind.Int64:
                        if (reader.TokenType == JsonTokenType.Number)
                        {
                            if (toProtobufJson)
                            {
                                // Google.Protobuf reads JSON numbers as double; a string keeps all 64 bits.
                                CopyUpTo(json, ref copied, (int)reader.TokenStartIndex, compact, output);
                                WriteQuoted(reader.ValueSpan, output);
                                copied = (int)reader.BytesConsumed;
                            }
                        }
                        else if (reader.TokenType != JsonTokenType.String)
                        {
                            throw TypeError(json, ref reader, field, "an integer or a string");
                        }

                        break;
                    case JsonFieldKind.Number:
                    case JsonFieldKind.Enum:
                        if (reader.TokenType is not (JsonTokenType.Number or JsonTokenType.String))
                        {
                            throw TypeError(json, ref reader, field, "a number or a string");
                        }

                        break;
                }
            }
        }
        catch (JsonException e)
        {
            long line = (e.LineNumber ?? 0) + 1;
            long column = (e.BytePositionInLine ?? 0) + 1;
            string detail = e.Message;
            int position = detail.IndexOf(" LineNumber:", StringComparison.Ordinal);
            if (position > 0)
            {
                detail = detail[..position];
            }

            throw new OtlpJsonException($"invalid JSON at line {line} col {column}: {detail}", e);
        }

        CopyUpTo(json, ref copied, json.Length, compact, output);
    }

    private static void Push(ref Frame[] frames, ref int depth, Frame frame)
    {
        if (depth == frames.Length)
        {
            Array.Resize(ref frames, frames.Length * 2);
        }

        frames[depth++] = frame;
    }

    /// <summary>Copies json[copied..end] to the output, dropping whitespace outside strings when compacting.</summary>
    private static void CopyUpTo(ReadOnlySpan<byte> json, ref int copied, int end, bool compact, IBufferWriter<byte> output)
    {
        ReadOnlySpan<byte> segment = json[copied..end];
        copied = end;
        if (segment.IsEmpty)
        {
            return;
        }

        Span<byte> destination = output.GetSpan(segment.Length);
        if (!compact)
        {
            segment.CopyTo(destination);
            output.Advance(segment.Length);
            return;
        }

        // Segments start and end between tokens, so each starts outside a string. The formatter only
        // emits spaces as whitespace.
        int written = 0;
        bool inString = false;
        while (!segment.IsEmpty)
        {
            int i = inString ? segment.IndexOfAny((byte)'"', (byte)'\\') : segment.IndexOfAny((byte)'"', (byte)' ');
            if (i < 0)
            {
                segment.CopyTo(destination[written..]);
                written += segment.Length;
                break;
            }

            segment[..i].CopyTo(destination[written..]);
            written += i;
            byte b = segment[i];
            if (b == (byte)' ')
            {
                segment = segment[(i + 1)..];
                continue;
            }

            int take = b == (byte)'\\' ? Math.Min(2, segment.Length - i) : 1; // an escape is two bytes or more
            segment.Slice(i, take).CopyTo(destination[written..]);
            written += take;
            segment = segment[(i + take)..];
            if (b == (byte)'"')
            {
                inString = !inString;
            }
        }

        output.Advance(written);
    }

    private static void WriteQuoted(ReadOnlySpan<byte> raw, IBufferWriter<byte> output)
    {
        Span<byte> destination = output.GetSpan(raw.Length + 2);
        destination[0] = (byte)'"';
        raw.CopyTo(destination[1..]);
        destination[raw.Length + 1] = (byte)'"';
        output.Advance(raw.Length + 2);
    }

    private static void WriteHexAsBase64(ReadOnlySpan<byte> json, ref Utf8JsonReader reader, FieldSchema field, IBufferWriter<byte> output)
    {
        byte[]? rented = null;
        ReadOnlySpan<byte> hex = reader.ValueSpan;
        if (reader.ValueIsEscaped)
        {
            rented = ArrayPool<byte>.Shared.Rent(hex.Length);
            hex = rented.AsSpan(0, reader.CopyString(rented));
        }

        try
        {
            if ((hex.Length & 1) != 0)
            {
                throw Error(json, reader.TokenStartIndex, $"{field.JsonName}: {Quote(hex)} has an odd number of hex digits");
            }

            int byteCount = hex.Length / 2;
            Span<byte> destination = output.GetSpan(Base64.GetMaxEncodedToUtf8Length(byteCount) + 2);
            Span<byte> bytes = destination.Slice(1, byteCount);
            for (int i = 0; i < byteCount; i++)
            {
                int high = HexValue(hex[2 * i]);
                int low = HexValue(hex[(2 * i) + 1]);
                if ((high | low) < 0)
                {
                    throw Error(json, reader.TokenStartIndex, $"{field.JsonName}: {Quote(hex)} is not hex");
                }

                bytes[i] = (byte)((high << 4) | low);
            }

            int encoded = 0;
            if (byteCount > 0 && Base64.EncodeToUtf8InPlace(destination[1..], byteCount, out encoded) != OperationStatus.Done)
            {
                throw new InvalidOperationException("base64 buffer too small");
            }

            destination[0] = (byte)'"';
            destination[encoded + 1] = (byte)'"';
            output.Advance(encoded + 2);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    private static void WriteBase64AsHex(ref Utf8JsonReader reader, IBufferWriter<byte> output)
    {
        // Formatter output: standard base64 with padding and no escapes.
        ReadOnlySpan<byte> base64 = reader.ValueSpan;
        int maxBytes = Base64.GetMaxDecodedFromUtf8Length(base64.Length);
        Span<byte> destination = output.GetSpan((maxBytes * 2) + 2);
        Span<byte> bytes = destination.Slice((maxBytes * 2) + 2 - maxBytes, maxBytes);
        if (Base64.DecodeFromUtf8(base64, bytes, out _, out int byteCount) != OperationStatus.Done)
        {
            throw new InvalidOperationException("JsonFormatter wrote invalid base64");
        }

        // Hex is twice as long: write forwards from the start, which never overtakes the unread bytes at the tail.
        destination[0] = (byte)'"';
        for (int i = 0; i < byteCount; i++)
        {
            byte b = bytes[i];
            destination[1 + (2 * i)] = HexDigits[b >> 4];
            destination[2 + (2 * i)] = HexDigits[b & 0xF];
        }

        destination[(2 * byteCount) + 1] = (byte)'"';
        output.Advance((2 * byteCount) + 2);
    }

    private static int HexValue(byte c)
    {
        if ((uint)(c - '0') <= 9)
        {
            return c - '0';
        }

        uint lower = (uint)((c | 0x20) - 'a');
        return lower <= 5 ? (int)lower + 10 : -1;
    }

    private static string Quote(ReadOnlySpan<byte> value)
    {
        string text = Encoding.UTF8.GetString(value[..Math.Min(value.Length, MaxQuotedLength)]);
        return value.Length > MaxQuotedLength ? $"\"{text}…\" ({value.Length} bytes)" : $"\"{text}\"";
    }

    private static OtlpJsonException TypeError(ReadOnlySpan<byte> json, ref Utf8JsonReader reader, FieldSchema field, string expected)
    {
        string actual = reader.TokenType switch
        {
            JsonTokenType.StartObject => "an object",
            JsonTokenType.StartArray => "an array",
            JsonTokenType.String => "a string",
            JsonTokenType.Number => "a number",
            JsonTokenType.True or JsonTokenType.False => "a boolean",
            _ => reader.TokenType.ToString(),
        };
        return Error(json, reader.TokenStartIndex, $"{field.JsonName}: expected {expected}, got {actual}");
    }

    private static OtlpJsonException Error(ReadOnlySpan<byte> json, long offset, string message)
    {
        ReadOnlySpan<byte> before = json[..(int)Math.Min(offset, json.Length)];
        int line = before.Count((byte)'\n') + 1;
        int column = before.Length - before.LastIndexOf((byte)'\n');
        return new OtlpJsonException($"{message} (line {line} col {column})");
    }
}

/// <summary>A growable <see cref="IBufferWriter{T}"/> over an array rented from the shared pool.</summary>
internal sealed class PooledUtf8Writer : IBufferWriter<byte>, IDisposable
{
    private byte[] _array;
    private int _length;

    public PooledUtf8Writer(int initialCapacity)
    {
        _array = ArrayPool<byte>.Shared.Rent(Math.Clamp(initialCapacity, 256, Array.MaxLength));
    }

    public ReadOnlySpan<byte> WrittenSpan => _array.AsSpan(0, _length);

    /// <summary>A read-only stream over the written bytes; valid until the writer is disposed or written to.</summary>
    public MemoryStream AsStream() => new(_array, 0, _length, writable: false);

    public void Advance(int count) => _length += count;

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _array.AsMemory(_length);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _array.AsSpan(_length);
    }

    public void Dispose()
    {
        byte[] array = _array;
        _array = [];
        _length = 0;
        if (array.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(array);
        }
    }

    private void Ensure(int sizeHint)
    {
        int size = Math.Max(sizeHint, 1);
        if (_array.Length - _length >= size)
        {
            return;
        }

        int newSize = (int)Math.Min(Array.MaxLength, Math.Max((long)_array.Length * 2, (long)_length + size));
        byte[] bigger = ArrayPool<byte>.Shared.Rent(newSize);
        _array.AsSpan(0, _length).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(_array);
        _array = bigger;
    }
}
