using Google.Protobuf.Collections;
using OpenTelemetry.Proto.Common.V1;

namespace ServerlessOtlp.Pipeline.Ottl.Functions;

/// <summary><c>delete_key(target, key)</c>: removes the key from the map (ottlfuncs/func_delete_key.go).</summary>
internal sealed class DeleteKey() : OttlMapEditor("delete_key", new("target", OttlParamKind.MapTarget), new("key", OttlParamKind.String))
{
    protected override Action<RepeatedField<KeyValue>> CompileEdit(OttlArguments args)
    {
        string key = args.String(1);
        Func<string, bool> isKey = k => k == key;
        return map => RemoveKeys(map, isKey);
    }
}
