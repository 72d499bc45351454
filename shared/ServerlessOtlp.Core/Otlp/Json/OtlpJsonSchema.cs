using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Google.Protobuf.Reflection;

namespace ServerlessOtlp.Otlp.Json;

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
