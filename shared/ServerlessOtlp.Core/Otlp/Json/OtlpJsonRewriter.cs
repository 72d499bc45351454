using System.Buffers;
using System.Buffers.Text;
using System.Text;
using System.Text.Json;

namespace ServerlessOtlp.Otlp.Json;

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
