using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Google.Protobuf.Collections;
using OpenTelemetry.Proto.Common.V1;

namespace ServerlessOtlp.Pipeline.Ottl;

/// <summary>What a function parameter accepts, checked at compile time.</summary>
internal enum OttlParamKind
{
    /// <summary>A path that can be set (the Collector's GetSetter).</summary>
    Target,

    /// <summary>A path to a map (attributes, or a key holding a map).</summary>
    MapTarget,

    /// <summary>Any value expression.</summary>
    Value,

    /// <summary>A string literal.</summary>
    String,

    /// <summary>An int literal.</summary>
    Int,

    /// <summary>A list literal of strings.</summary>
    StringList,

    /// <summary>A list literal of value expressions.</summary>
    ValueList,

    /// <summary>A string literal holding a regular expression, compiled once.</summary>
    Regex,
}

internal sealed record OttlParam(string Name, OttlParamKind Kind, bool Optional = false);

/// <summary>A function of the subset: an editor (lower-case, a statement) or a converter (upper-case, returns a value).</summary>
internal sealed record OttlFunction(string Name, OttlType Returns, params OttlParam[] Params)
{
    public bool IsEditor => char.IsLower(Name[0]);

    public int Required => Params.Count(p => !p.Optional);

    public static readonly IReadOnlyDictionary<string, OttlFunction> All = new[]
    {
        new OttlFunction("set", OttlType.Any, new("target", OttlParamKind.Target), new("value", OttlParamKind.Value)),
        new OttlFunction("delete_key", OttlType.Any, new("target", OttlParamKind.MapTarget), new("key", OttlParamKind.String)),
        new OttlFunction("delete_matching_keys", OttlType.Any, new("target", OttlParamKind.MapTarget), new("pattern", OttlParamKind.Regex)),
        new OttlFunction("keep_keys", OttlType.Any, new("target", OttlParamKind.MapTarget), new("keys", OttlParamKind.StringList)),
        new OttlFunction("limit", OttlType.Any, new("target", OttlParamKind.MapTarget), new("limit", OttlParamKind.Int), new("priority_keys", OttlParamKind.StringList, Optional: true)),
        new OttlFunction("truncate_all", OttlType.Any, new("target", OttlParamKind.MapTarget), new("limit", OttlParamKind.Int)),
        new OttlFunction("replace_pattern", OttlType.Any, new("target", OttlParamKind.Target), new("regex", OttlParamKind.Regex), new("replacement", OttlParamKind.String)),
        new OttlFunction("replace_all_patterns", OttlType.Any, new("target", OttlParamKind.MapTarget), new("mode", OttlParamKind.String), new("regex", OttlParamKind.Regex), new("replacement", OttlParamKind.String)),
        new OttlFunction("SHA256", OttlType.String, new OttlParam("value", OttlParamKind.Value)),
        new OttlFunction("Concat", OttlType.String, new("vals", OttlParamKind.ValueList), new("delimiter", OttlParamKind.String)),
        new OttlFunction("IsMatch", OttlType.Bool, new("target", OttlParamKind.Value), new("pattern", OttlParamKind.Regex)),
        new OttlFunction("IsString", OttlType.Bool, new OttlParam("value", OttlParamKind.Value)),
    }.ToDictionary(f => f.Name, StringComparer.Ordinal);
}

/// <summary>The runtime of the editors and converters, following the Collector's ottlfuncs.</summary>
internal static class OttlFunctionRuntime
{
    public static void DeleteKey(RepeatedField<KeyValue> map, string key)
    {
        for (int i = map.Count - 1; i >= 0; i--)
        {
            if (map[i].Key == key)
            {
                map.RemoveAt(i);
            }
        }
    }

    public static void DeleteMatchingKeys(RepeatedField<KeyValue> map, Regex pattern)
    {
        for (int i = map.Count - 1; i >= 0; i--)
        {
            if (pattern.IsMatch(map[i].Key))
            {
                map.RemoveAt(i);
            }
        }
    }

    public static void KeepKeys(RepeatedField<KeyValue> map, HashSet<string> keys)
    {
        for (int i = map.Count - 1; i >= 0; i--)
        {
            if (!keys.Contains(map[i].Key))
            {
                map.RemoveAt(i);
            }
        }
    }

    /// <summary>
    /// At most <paramref name="limit"/> entries: the priority keys present are kept, then the
    /// first others in map order (ottlfuncs/func_limit.go).
    /// </summary>
    public static void Limit(RepeatedField<KeyValue> map, long limit, HashSet<string> priority)
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

    /// <summary>
    /// Truncates string values to <paramref name="limit"/> UTF-8 bytes (the Collector counts bytes),
    /// never splitting a character.
    /// </summary>
    public static void TruncateAll(RepeatedField<KeyValue> map, long limit)
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

    public static void ReplaceAllPatterns(RepeatedField<KeyValue> map, bool keys, Regex regex, string replacement)
    {
        if (!keys)
        {
            foreach (var kv in map)
            {
                if (kv.Value?.ValueCase == AnyValue.ValueOneofCase.StringValue && regex.IsMatch(kv.Value.StringValue))
                {
                    kv.Value.StringValue = regex.Replace(kv.Value.StringValue, replacement);
                }
            }

            return;
        }

        var renamed = new RepeatedField<KeyValue>();
        foreach (var kv in map)
        {
            string key = regex.IsMatch(kv.Key) ? regex.Replace(kv.Key, replacement) : kv.Key;
            OttlValues.Put(renamed, key, kv.Value ?? new AnyValue());
        }

        map.Clear();
        map.AddRange(renamed);
    }

    public static string Sha256(object? value)
    {
        if (value is not string s)
        {
            throw new OttlRuntimeException($"SHA256: expected string but got {OttlValues.TypeName(value)}");
        }

        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(s)));
    }
}
