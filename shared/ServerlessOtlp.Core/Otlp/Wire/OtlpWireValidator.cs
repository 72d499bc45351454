using Google.Protobuf.Reflection;
using OpenTelemetry.Proto.Collector.Logs.V1;
using OpenTelemetry.Proto.Collector.Metrics.V1;
using OpenTelemetry.Proto.Collector.Trace.V1;

namespace ServerlessOtlp.Otlp.Wire;

/// <summary>
/// Checks a whole export request on the wire the way the drain's decoder (Google.Protobuf) will
/// read it, without building the object graph: every nested message's framing, packed scalars,
/// UTF-8 strings, nesting depth, and the size of every attribute list. The gateway refuses at receipt (400 /
/// INVALID_ARGUMENT) what the drain could not decode, instead of acknowledging it and
/// dead-lettering it later — the same answer OTLP/JSON gets for the same content.
/// Linear in the request's bytes; the schema comes from the generated descriptors, so every OTLP
/// message and field is covered and a new proto version needs no code here.
/// </summary>
public static class OtlpWireValidator
{
    /// <summary>
    /// Messages nested in one another (AnyValue in AnyValue counts two: AnyValue, then its array or
    /// kvlist). Google.Protobuf stops at 100 (<c>CodedInputStream.DefaultRecursionLimit</c>); 64 leaves
    /// room for the request's own envelope levels and is the JSON reader's default depth.
    /// </summary>
    public const int MaxDepth = 64;

    /// <summary>
    /// Entries in one attributes list (a resource's, scope's, span's, event's, link's, log record's,
    /// data point's, exemplar's). The SDKs' default attribute count limit is 128; a list past this one
    /// costs the drain and the backends for nothing.
    /// </summary>
    public const int MaxAttributes = 4096;

    private static readonly Schema Traces = Schema.For(ExportTraceServiceRequest.Descriptor);
    private static readonly Schema Metrics = Schema.For(ExportMetricsServiceRequest.Descriptor);
    private static readonly Schema Logs = Schema.For(ExportLogsServiceRequest.Descriptor);

    /// <summary>Throws <see cref="InvalidDataException"/> saying what is wrong and where.</summary>
    public static void Validate(Signal signal, ReadOnlySpan<byte> request)
    {
        var schema = signal switch
        {
            Signal.Traces => Traces,
            Signal.Metrics => Metrics,
            _ => Logs,
        };
        Walk(schema, schema.Root, request, 1);
    }

    private static void Walk(Schema schema, int message, ReadOnlySpan<byte> data, int depth)
    {
        if (depth > MaxDepth)
        {
            throw new InvalidDataException($"messages nested deeper than {MaxDepth} levels");
        }

        var fields = schema.Messages[message];
        int attributes = 0;
        int pos = 0;
        while (pos < data.Length)
        {
            var f = ProtoWire.ReadField(data, pos);
            pos = f.End;
            var field = (uint)f.Number < (uint)fields.Length ? fields[f.Number] : default;
            switch (field.Kind)
            {
                case FieldKind.Message when f.WireType == ProtoWire.WireLengthDelimited:
                    if (field.IsAttributes && ++attributes > MaxAttributes)
                    {
                        throw new InvalidDataException($"more than {MaxAttributes} attributes in one {schema.Names[message]}");
                    }

                    Walk(schema, field.Nested, data[f.ValueStart..f.End], depth + 1);
                    break;
                case FieldKind.PackedVarint when f.WireType == ProtoWire.WireLengthDelimited:
                    var packed = data[..f.End];
                    for (int p = f.ValueStart; p < f.End;)
                    {
                        ProtoWire.ReadVarint(packed, ref p);
                    }

                    break;
                case FieldKind.String when f.WireType == ProtoWire.WireLengthDelimited && !System.Text.Unicode.Utf8.IsValid(data[f.ValueStart..f.End]):
                    throw new InvalidDataException($"field {f.Number} of {schema.Names[message]} is not valid UTF-8");
                case FieldKind.PackedFixed64 when f.WireType == ProtoWire.WireLengthDelimited && f.ValueLength % 8 != 0:
                case FieldKind.PackedFixed32 when f.WireType == ProtoWire.WireLengthDelimited && f.ValueLength % 4 != 0:
                    throw new InvalidDataException($"packed field {f.Number} of {schema.Names[message]} has {f.ValueLength} bytes, not a whole number of values");
            }

            // Anything else is a scalar, a string, bytes, or a field the decoder keeps as unknown (also a
            // known field with another wire type): ReadField has checked its framing.
        }
    }

    private enum FieldKind : byte
    {
        Other,
        Message,

        /// <summary>Google.Protobuf refuses a string field that is not UTF-8 (bytes fields are not checked).</summary>
        String,
        PackedVarint,
        PackedFixed64,
        PackedFixed32,
    }

    private readonly record struct FieldInfo(FieldKind Kind, int Nested, bool IsAttributes);

    /// <summary>Per message type, its fields by number, built once from the descriptors.</summary>
    private sealed class Schema
    {
        public List<FieldInfo[]> Messages { get; } = [];

        public List<string> Names { get; } = [];

        public int Root { get; private set; }

        public static Schema For(MessageDescriptor root)
        {
            var schema = new Schema();
            var index = new Dictionary<MessageDescriptor, int>();
            schema.Root = schema.Add(root, index);
            return schema;
        }

        private int Add(MessageDescriptor descriptor, Dictionary<MessageDescriptor, int> index)
        {
            if (index.TryGetValue(descriptor, out int existing))
            {
                return existing;
            }

            int id = Messages.Count;
            index[descriptor] = id;
            int max = descriptor.Fields.InFieldNumberOrder().Select(f => f.FieldNumber).DefaultIfEmpty(0).Max();
            var fields = new FieldInfo[max + 1];
            Messages.Add(fields);
            Names.Add(descriptor.Name);
            foreach (var field in descriptor.Fields.InFieldNumberOrder())
            {
                fields[field.FieldNumber] = field.FieldType switch
                {
                    FieldType.Message => new FieldInfo(
                        FieldKind.Message,
                        Add(field.MessageType, index),
                        field.IsRepeated && field.MessageType.Name == "KeyValue" && field.Name.EndsWith("attributes", StringComparison.Ordinal)),
                    FieldType.String => new FieldInfo(FieldKind.String, 0, false),
                    FieldType.Double or FieldType.Fixed64 or FieldType.SFixed64 when field.IsRepeated => new FieldInfo(FieldKind.PackedFixed64, 0, false),
                    FieldType.Float or FieldType.Fixed32 or FieldType.SFixed32 when field.IsRepeated => new FieldInfo(FieldKind.PackedFixed32, 0, false),
                    FieldType.Int32 or FieldType.Int64 or FieldType.UInt32 or FieldType.UInt64 or FieldType.SInt32 or FieldType.SInt64 or FieldType.Bool or FieldType.Enum
                        when field.IsRepeated => new FieldInfo(FieldKind.PackedVarint, 0, false),
                    _ => default,
                };
            }

            return id;
        }
    }
}
