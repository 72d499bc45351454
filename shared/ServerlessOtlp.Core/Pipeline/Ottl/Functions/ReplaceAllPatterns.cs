using System.Text.RegularExpressions;
using Google.Protobuf.Collections;
using OpenTelemetry.Proto.Common.V1;

namespace ServerlessOtlp.Pipeline.Ottl.Functions;

/// <summary>
/// <c>replace_all_patterns(target, mode, regex, replacement)</c>: rewrites the map's string values
/// (mode <c>"value"</c>) or its keys (<c>"key"</c>) by the pattern (ottlfuncs/func_replace_all_patterns.go).
/// </summary>
internal sealed class ReplaceAllPatterns() : OttlMapEditor("replace_all_patterns", new("target", OttlParamKind.MapTarget), new("mode", OttlParamKind.String), new("regex", OttlParamKind.Regex), new("replacement", OttlParamKind.String))
{
    protected override Action<RepeatedField<KeyValue>> CompileEdit(OttlArguments args)
    {
        string mode = args.String(1);
        if (mode is not ("key" or "value"))
        {
            throw args.Error(1, $"mode must be \"key\" or \"value\", got \"{mode}\"");
        }

        var regex = args.Regex(2);
        string replacement = args.String(3);
        bool keys = mode == "key";
        return map => Apply(map, keys, regex, replacement);
    }

    internal static void Apply(RepeatedField<KeyValue> map, bool keys, Regex regex, string replacement)
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
}
