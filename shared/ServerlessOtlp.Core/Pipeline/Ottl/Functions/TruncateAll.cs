using System.Text;
using Google.Protobuf.Collections;
using OpenTelemetry.Proto.Common.V1;

namespace ServerlessOtlp.Pipeline.Ottl.Functions;

/// <summary><c>truncate_all(target, limit)</c>: cuts the map's string values to <c>limit</c> bytes (ottlfuncs/func_truncate_all.go).</summary>
internal sealed class TruncateAll() : OttlMapEditor("truncate_all", new("target", OttlParamKind.MapTarget), new("limit", OttlParamKind.Int))
{
    protected override Action<RepeatedField<KeyValue>> CompileEdit(OttlArguments args)
    {
        long limit = args.Int(1);
        if (limit < 0)
        {
            throw args.Error(1, $"the limit must not be negative, got {limit}");
        }

        return map => Apply(map, limit);
    }

    /// <summary>
    /// Truncates string values to <paramref name="limit"/> UTF-8 bytes (the Collector counts bytes),
    /// never splitting a character.
    /// </summary>
    internal static void Apply(RepeatedField<KeyValue> map, long limit)
    {
        foreach (var kv in map)
        {
            if (kv.Value?.ValueCase == AnyValue.ValueOneofCase.StringValue && Truncate(kv.Value.StringValue, limit) is { } shorter)
            {
                kv.Value.StringValue = shorter;
            }
        }
    }

    private static string? Truncate(string value, long limit)
    {
        if (Encoding.UTF8.GetByteCount(value) <= limit)
        {
            return null;
        }

        int bytes = 0;
        int chars = 0;
        while (chars < value.Length)
        {
            int width = char.IsHighSurrogate(value[chars]) && chars + 1 < value.Length ? 2 : 1;
            int size = Encoding.UTF8.GetByteCount(value.AsSpan(chars, width));
            if (bytes + size > limit)
            {
                break;
            }

            bytes += size;
            chars += width;
        }

        return value[..chars];
    }
}
