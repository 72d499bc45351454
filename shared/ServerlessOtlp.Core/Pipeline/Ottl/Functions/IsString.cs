namespace ServerlessOtlp.Pipeline.Ottl.Functions;

/// <summary><c>IsString(value)</c>: whether the value is a string (ottlfuncs/func_is_string.go).</summary>
internal sealed class IsString() : OttlConverter("IsString", OttlType.Bool, new OttlParam("value", OttlParamKind.Value))
{
    public override Func<OttlContext, object?> Compile(OttlArguments args)
    {
        var value = args.Value(0).Get;
        return c => value(c) is string;
    }
}
