using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using OpAmp.Proto.V1;
using ServerlessOtlp.Storage;

namespace ServerlessOtlp.Gateway.Agents;

/// <summary>
/// Turns what an agent reports into the bounded, comparable form that is stored: attributes as text, health
/// and effective config as hashes over a canonical form (map entries sorted: a Go agent's map order is random,
/// and a reordered report must not look like a change and cost a write).
/// </summary>
internal static class AgentState
{
    /// <summary>Attributes as text; null with <paramref name="problem"/> set when a list is over <see cref="OpAmpLimits"/>.</summary>
    public static Dictionary<string, string>? Attributes(IReadOnlyList<KeyValue> list, string what, out string? problem)
    {
        problem = null;
        if (list.Count > OpAmpLimits.MaxAttributes)
        {
            problem = $"{what}: {list.Count} attributes exceed the limit of {OpAmpLimits.MaxAttributes}";
            return null;
        }

        var map = new Dictionary<string, string>(list.Count, StringComparer.Ordinal);
        int chars = 0;
        foreach (var kv in list)
        {
            if (kv.Key.Length is 0 or > OpAmpLimits.MaxAttributeNameChars)
            {
                problem = $"{what}: an attribute name must have 1 to {OpAmpLimits.MaxAttributeNameChars} characters";
                return null;
            }

            string value = Text(kv.Value);
            if (value.Length > OpAmpLimits.MaxAttributeValueChars)
            {
                problem = $"{what}: the value of \"{kv.Key}\" exceeds {OpAmpLimits.MaxAttributeValueChars} characters";
                return null;
            }

            chars += kv.Key.Length + value.Length;
            if (chars > OpAmpLimits.MaxDescriptionChars)
            {
                problem = $"{what}: names and values exceed {OpAmpLimits.MaxDescriptionChars} characters together";
                return null;
            }

            map[kv.Key] = value;
        }

        return map;
    }

    /// <summary>Identifying attributes win over non-identifying ones of the same name (config matching sees both).</summary>
    public static Dictionary<string, string> Merged(AgentRecord agent)
    {
        var all = new Dictionary<string, string>(agent.NonIdentifyingAttributes, StringComparer.Ordinal);
        foreach (var (k, v) in agent.IdentifyingAttributes)
        {
            all[k] = v;
        }

        return all;
    }

    public static string Cut(string text) => text.Length <= OpAmpLimits.MaxMessageChars ? text : text[..OpAmpLimits.MaxMessageChars];

    public static string HealthHash(ComponentHealth health)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        AppendHealth(hash, health, depth: 0);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    public static string EffectiveConfigHash(EffectiveConfig config)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var files = config.ConfigMap?.ConfigMap;
        if (files is not null)
        {
            foreach (var name in files.Keys.Order(StringComparer.Ordinal))
            {
                Append(hash, name);
                Append(hash, files[name].ContentType);
                hash.AppendData(BitConverter.GetBytes(files[name].Body.Length));
                hash.AppendData(files[name].Body.Span);
            }
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    public static string StatusName(RemoteConfigStatuses status) => status switch
    {
        RemoteConfigStatuses.Applied => "APPLIED",
        RemoteConfigStatuses.Applying => "APPLYING",
        RemoteConfigStatuses.Failed => "FAILED",
        _ => "UNSET",
    };

    /// <summary>Whether two records hold the same reported and offered state (last-seen aside).</summary>
    public static bool SameState(AgentRecord a, AgentRecord b) =>
        SameMap(a.IdentifyingAttributes, b.IdentifyingAttributes)
        && SameMap(a.NonIdentifyingAttributes, b.NonIdentifyingAttributes)
        && a.Capabilities == b.Capabilities
        && a.Healthy == b.Healthy
        && a.HealthStatus == b.HealthStatus
        && a.HealthLastError == b.HealthLastError
        && a.HealthHash == b.HealthHash
        && a.EffectiveConfigHash == b.EffectiveConfigHash
        && a.OfferedConfigName == b.OfferedConfigName
        && a.OfferedConfigHash == b.OfferedConfigHash
        && a.RemoteConfigHash == b.RemoteConfigHash
        && a.RemoteConfigStatus == b.RemoteConfigStatus
        && a.RemoteConfigError == b.RemoteConfigError
        && a.Disconnected == b.Disconnected;

    private static bool SameMap(IReadOnlyDictionary<string, string> a, IReadOnlyDictionary<string, string> b)
    {
        if (a.Count != b.Count)
        {
            return false;
        }

        foreach (var (k, v) in a)
        {
            if (!b.TryGetValue(k, out var other) || other != v)
            {
                return false;
            }
        }

        return true;
    }

    // The parser already stopped nesting at protobuf's recursion limit; this bounds the walk the same way.
    private const int MaxHealthDepth = 32;

    private static void AppendHealth(IncrementalHash hash, ComponentHealth health, int depth)
    {
        hash.AppendData([health.Healthy ? (byte)1 : (byte)0]);
        hash.AppendData(BitConverter.GetBytes(health.StartTimeUnixNano));
        hash.AppendData(BitConverter.GetBytes(health.StatusTimeUnixNano));
        Append(hash, health.Status);
        Append(hash, health.LastError);
        foreach (var kv in health.Attributes.OrderBy(a => a.Key, StringComparer.Ordinal))
        {
            Append(hash, kv.Key);
            Append(hash, Text(kv.Value));
        }

        if (depth >= MaxHealthDepth)
        {
            return;
        }

        foreach (var name in health.ComponentHealthMap.Keys.Order(StringComparer.Ordinal))
        {
            Append(hash, name);
            AppendHealth(hash, health.ComponentHealthMap[name], depth + 1);
        }

        hash.AppendData([0xFF]);
    }

    private static void Append(IncrementalHash hash, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        hash.AppendData(BitConverter.GetBytes(bytes.Length));
        hash.AppendData(bytes);
    }

    /// <summary>An attribute value as text: strings as they are, others in a plain form (arrays and maps as their protobuf text).</summary>
    private static string Text(AnyValue? value) => value?.ValueCase switch
    {
        AnyValue.ValueOneofCase.StringValue => value.StringValue,
        AnyValue.ValueOneofCase.BoolValue => value.BoolValue ? "true" : "false",
        AnyValue.ValueOneofCase.IntValue => value.IntValue.ToString(CultureInfo.InvariantCulture),
        AnyValue.ValueOneofCase.DoubleValue => value.DoubleValue.ToString("R", CultureInfo.InvariantCulture),
        AnyValue.ValueOneofCase.BytesValue => Convert.ToHexStringLower(value.BytesValue.Span),
        AnyValue.ValueOneofCase.ArrayValue or AnyValue.ValueOneofCase.KvlistValue => Convert.ToBase64String(value.ToByteArray()),
        _ => "",
    };
}
