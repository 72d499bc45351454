using System.Globalization;
using System.Text;
using Google.Protobuf;
using Google.Protobuf.Collections;
using OpenTelemetry.Proto.Common.V1;

namespace ServerlessOtlp.Pipeline.Ottl;

/// <summary>
/// The runtime values of OTTL and their conversions, mirroring pcommon's: string, long, double,
/// bool, byte[] (bytes), null (nil), a map (the live <see cref="RepeatedField{KeyValue}"/>, so
/// editors change it in place) and a list (<see cref="IReadOnlyList{T}"/> of values).
/// </summary>
internal static class OttlValues
{
    public static object? FromAnyValue(AnyValue? value) => value?.ValueCase switch
    {
        AnyValue.ValueOneofCase.StringValue => value.StringValue,
        AnyValue.ValueOneofCase.IntValue => value.IntValue,
        AnyValue.ValueOneofCase.DoubleValue => value.DoubleValue,
        AnyValue.ValueOneofCase.BoolValue => value.BoolValue,
        AnyValue.ValueOneofCase.BytesValue => value.BytesValue.ToByteArray(),
        AnyValue.ValueOneofCase.KvlistValue => value.KvlistValue.Values,
        AnyValue.ValueOneofCase.ArrayValue => value.ArrayValue.Values.Select(FromAnyValue).ToList(),
        _ => null,
    };

    /// <summary>A new AnyValue holding <paramref name="value"/> (maps and lists are deep-copied).</summary>
    public static AnyValue ToAnyValue(object? value) => value switch
    {
        null => new AnyValue(),
        string s => new AnyValue { StringValue = s },
        long l => new AnyValue { IntValue = l },
        int i => new AnyValue { IntValue = i },
        double d => new AnyValue { DoubleValue = d },
        bool b => new AnyValue { BoolValue = b },
        byte[] bytes => new AnyValue { BytesValue = ByteString.CopyFrom(bytes) },
        RepeatedField<KeyValue> map => new AnyValue { KvlistValue = new KeyValueList { Values = { map.Select(kv => kv.Clone()) } } },
        IEnumerable<object?> list => new AnyValue { ArrayValue = new ArrayValue { Values = { list.Select(ToAnyValue) } } },
        _ => throw new OttlRuntimeException($"cannot store a {value.GetType().Name}"),
    };

    public static string TypeName(object? value) => value switch
    {
        null => "nil",
        string => "string",
        long or int => "int",
        double => "double",
        bool => "bool",
        byte[] => "bytes",
        RepeatedField<KeyValue> => "map",
        IEnumerable<object?> => "slice",
        _ => value.GetType().Name,
    };

    /// <summary>The Collector's StringLikeGetter: strings as they are, others formatted; nil stays nil.</summary>
    public static string? StringLike(object? value) => value switch
    {
        null => null,
        string s => s,
        long l => l.ToString(CultureInfo.InvariantCulture),
        int i => i.ToString(CultureInfo.InvariantCulture),
        double d => FormatDouble(d),
        bool b => b ? "true" : "false",
        byte[] bytes => Convert.ToHexStringLower(bytes),
        _ => ToJson(value),
    };

    // Go's strconv.FormatFloat(v, 'f', -1, 64): shortest round-trip digits, never an exponent.
    private static string FormatDouble(double d) => d.ToString("0.############################", CultureInfo.InvariantCulture) is var s && double.Parse(s, CultureInfo.InvariantCulture) == d
        ? s
        : d.ToString("R", CultureInfo.InvariantCulture);

    private static string ToJson(object? value)
    {
        var sb = new StringBuilder();
        WriteJson(sb, value);
        return sb.ToString();
    }

    private static void WriteJson(StringBuilder sb, object? value)
    {
        switch (value)
        {
            case null:
                sb.Append("null");
                break;
            case string s:
                sb.Append(System.Text.Json.JsonSerializer.Serialize(s, CoreJsonContext.Default.String));
                break;
            case RepeatedField<KeyValue> map:
                sb.Append('{');
                for (int i = 0; i < map.Count; i++)
                {
                    sb.Append(i == 0 ? "" : ",").Append(System.Text.Json.JsonSerializer.Serialize(map[i].Key, CoreJsonContext.Default.String)).Append(':');
                    WriteJson(sb, FromAnyValue(map[i].Value));
                }

                sb.Append('}');
                break;
            case IEnumerable<object?> list:
                sb.Append('[');
                bool first = true;
                foreach (var item in list)
                {
                    sb.Append(first ? "" : ",");
                    first = false;
                    WriteJson(sb, item);
                }

                sb.Append(']');
                break;
            case byte[] bytes:
                sb.Append('"').Append(Convert.ToBase64String(bytes)).Append('"');
                break;
            default:
                sb.Append(StringLike(value));
                break;
        }
    }

    public static KeyValue? Find(RepeatedField<KeyValue> map, string key)
    {
        for (int i = 0; i < map.Count; i++)
        {
            if (map[i].Key == key)
            {
                return map[i];
            }
        }

        return null;
    }

    public static void Put(RepeatedField<KeyValue> map, string key, AnyValue value)
    {
        if (Find(map, key) is { } existing)
        {
            existing.Value = value;
        }
        else
        {
            map.Add(new KeyValue { Key = key, Value = value });
        }
    }

    /// <summary>Replaces the content of <paramref name="target"/> by a copy of <paramref name="source"/>.</summary>
    public static void ReplaceMap(RepeatedField<KeyValue> target, RepeatedField<KeyValue> source)
    {
        if (ReferenceEquals(target, source))
        {
            return;
        }

        var copy = source.Select(kv => kv.Clone()).ToList();
        target.Clear();
        target.AddRange(copy);
    }

    /// <summary>Reads <paramref name="keys"/> below <paramref name="value"/>; nil when a key is absent.</summary>
    public static object? Index(object? value, IReadOnlyList<object> keys, string pathText)
    {
        foreach (var key in keys)
        {
            switch (key, value)
            {
                case (_, null):
                    return null;
                case (string k, RepeatedField<KeyValue> map):
                    value = Find(map, k) is { } kv ? FromAnyValue(kv.Value) : null;
                    break;
                case (long index, IReadOnlyList<object?> list):
                    if (index < 0 || index >= list.Count)
                    {
                        throw new OttlRuntimeException($"index {index} out of bounds in {pathText}");
                    }

                    value = list[(int)index];
                    break;
                case (string, _):
                    throw new OttlRuntimeException($"{pathText}: a {TypeName(value)} does not support string indexing");
                default:
                    throw new OttlRuntimeException($"{pathText}: a {TypeName(value)} does not support int indexing");
            }
        }

        return value;
    }

    /// <summary>Writes <paramref name="value"/> at <paramref name="keys"/> below <paramref name="map"/>, creating maps on the way.</summary>
    public static void SetIndexed(RepeatedField<KeyValue> map, IReadOnlyList<object> keys, object? value, string pathText)
    {
        if (keys[0] is not string first)
        {
            throw new OttlRuntimeException($"{pathText}: a map does not support int indexing");
        }

        if (keys.Count == 1)
        {
            Put(map, first, ToAnyValue(value));
            return;
        }

        if (Find(map, first) is not { } kv)
        {
            kv = new KeyValue { Key = first, Value = new AnyValue() };
            map.Add(kv);
        }

        kv.Value ??= new AnyValue();
        SetIndexed(kv.Value, keys, 1, value, pathText);
    }

    public static void SetIndexed(AnyValue container, IReadOnlyList<object> keys, int at, object? value, string pathText)
    {
        AnyValue slot;
        switch (keys[at])
        {
            case string key:
                if (container.ValueCase == AnyValue.ValueOneofCase.None)
                {
                    container.KvlistValue = new KeyValueList();
                }

                if (container.ValueCase != AnyValue.ValueOneofCase.KvlistValue)
                {
                    throw new OttlRuntimeException($"{pathText}: a {TypeName(FromAnyValue(container))} does not support string indexing");
                }

                var map = container.KvlistValue.Values;
                if (at == keys.Count - 1)
                {
                    Put(map, key, ToAnyValue(value));
                    return;
                }

                if (Find(map, key) is not { } kv)
                {
                    kv = new KeyValue { Key = key, Value = new AnyValue() };
                    map.Add(kv);
                }

                slot = kv.Value ??= new AnyValue();
                break;
            default:
                long index = (long)keys[at];
                if (container.ValueCase != AnyValue.ValueOneofCase.ArrayValue)
                {
                    throw new OttlRuntimeException($"{pathText}: a {TypeName(FromAnyValue(container))} does not support int indexing");
                }

                var list = container.ArrayValue.Values;
                if (index < 0 || index >= list.Count)
                {
                    throw new OttlRuntimeException($"index {index} out of bounds in {pathText}");
                }

                if (at == keys.Count - 1)
                {
                    list[(int)index] = ToAnyValue(value);
                    return;
                }

                slot = list[(int)index];
                break;
        }

        SetIndexed(slot, keys, at + 1, value, pathText);
    }

    /// <summary>
    /// The Collector's comparison rules (pkg/ottl compare.go): nil equals only nil; numbers compare
    /// across int and double; strings and bytes order lexically; bools false &lt; true; maps and
    /// lists compare for equality only; values of different types are never equal and never ordered.
    /// </summary>
    public static bool Compare(object? left, OttlCompareOp op, object? right)
    {
        switch (left, right)
        {
            case (null, null):
                return op is OttlCompareOp.Equal or OttlCompareOp.LessOrEqual or OttlCompareOp.GreaterOrEqual;
            case (null, _):
            case (_, null):
                return op == OttlCompareOp.NotEqual;
            case (long a, long b):
                return Ordered(a.CompareTo(b), op);
            case (long a, double b):
                return Ordered(((double)a).CompareTo(b), op);
            case (double a, long b):
                return Ordered(a.CompareTo(b), op);
            case (double a, double b):
                return Ordered(a.CompareTo(b), op);
            case (string a, string b):
                return Ordered(string.CompareOrdinal(a, b), op);
            case (bool a, bool b):
                return Ordered(a.CompareTo(b), op);
            case (byte[] a, byte[] b):
                return Ordered(a.AsSpan().SequenceCompareTo(b), op);
            case (RepeatedField<KeyValue> or IReadOnlyList<object?>, RepeatedField<KeyValue> or IReadOnlyList<object?>):
                bool equal = ToAnyValue(left).Equals(ToAnyValue(right));
                return op switch
                {
                    OttlCompareOp.Equal => equal,
                    OttlCompareOp.NotEqual => !equal,
                    _ => false,
                };
            default:
                return op == OttlCompareOp.NotEqual;
        }
    }

    private static bool Ordered(int comparison, OttlCompareOp op) => op switch
    {
        OttlCompareOp.Equal => comparison == 0,
        OttlCompareOp.NotEqual => comparison != 0,
        OttlCompareOp.Less => comparison < 0,
        OttlCompareOp.LessOrEqual => comparison <= 0,
        OttlCompareOp.Greater => comparison > 0,
        _ => comparison >= 0,
    };
}
