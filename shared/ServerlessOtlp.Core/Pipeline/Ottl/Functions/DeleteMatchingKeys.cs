using Google.Protobuf.Collections;
using OpenTelemetry.Proto.Common.V1;

namespace ServerlessOtlp.Pipeline.Ottl.Functions;

/// <summary><c>delete_matching_keys(target, pattern)</c>: removes the keys the pattern matches (ottlfuncs/func_delete_matching_keys.go).</summary>
internal sealed class DeleteMatchingKeys() : OttlMapEditor("delete_matching_keys", new("target", OttlParamKind.MapTarget), new("pattern", OttlParamKind.Regex))
{
    protected override Action<RepeatedField<KeyValue>> CompileEdit(OttlArguments args)
    {
        var pattern = args.Regex(1);
        Func<string, bool> matches = pattern.IsMatch;
        return map => RemoveKeys(map, matches);
    }
}
