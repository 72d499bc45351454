using Google.Protobuf.Collections;
using OpenTelemetry.Proto.Common.V1;

namespace ServerlessOtlp.Pipeline.Ottl.Functions;

/// <summary><c>limit(target, limit, priority_keys?)</c>: keeps at most <c>limit</c> entries (ottlfuncs/func_limit.go).</summary>
internal sealed class Limit() : OttlMapEditor("limit", new("target", OttlParamKind.MapTarget), new("limit", OttlParamKind.Int), new("priority_keys", OttlParamKind.StringList, Optional: true))
{
    protected override Action<RepeatedField<KeyValue>> CompileEdit(OttlArguments args)
    {
        long limit = args.Int(1);
        var priority = args.IsGiven(2) ? args.StringList(2).ToHashSet(StringComparer.Ordinal) : [];
        if (limit < 0)
        {
            throw args.Error(1, $"the limit must not be negative, got {limit}");
        }

        if (priority.Count > limit)
        {
            throw args.Error(1, $"the limit {limit} is less than the number of priority keys ({priority.Count})");
        }

        return map => Apply(map, limit, priority);
    }

    /// <summary>
    /// At most <paramref name="limit"/> entries: the priority keys present are kept, then the
    /// first others in map order.
    /// </summary>
    internal static void Apply(RepeatedField<KeyValue> map, long limit, HashSet<string> priority)
    {
        if (map.Count <= limit)
        {
            return;
        }

        long count = map.Count(kv => priority.Contains(kv.Key));
        var kept = new List<KeyValue>((int)Math.Min(limit, map.Count));
        foreach (var kv in map)
        {
            if (priority.Contains(kv.Key))
            {
                kept.Add(kv);
            }
            else if (count < limit)
            {
                count++;
                kept.Add(kv);
            }
        }

        map.Clear();
        map.AddRange(kept);
    }
}
