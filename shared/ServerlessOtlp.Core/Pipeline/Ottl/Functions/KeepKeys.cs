using Google.Protobuf.Collections;
using OpenTelemetry.Proto.Common.V1;

namespace ServerlessOtlp.Pipeline.Ottl.Functions;

/// <summary><c>keep_keys(target, keys)</c>: removes every key not in the list (ottlfuncs/func_keep_keys.go).</summary>
internal sealed class KeepKeys() : OttlMapEditor("keep_keys", new("target", OttlParamKind.MapTarget), new("keys", OttlParamKind.StringList))
{
    protected override Action<RepeatedField<KeyValue>> CompileEdit(OttlArguments args)
    {
        var keys = args.StringList(1).ToHashSet(StringComparer.Ordinal);
        Func<string, bool> isOther = k => !keys.Contains(k);
        return map => RemoveKeys(map, isOther);
    }
}
