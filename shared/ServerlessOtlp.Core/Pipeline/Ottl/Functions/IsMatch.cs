namespace ServerlessOtlp.Pipeline.Ottl.Functions;

/// <summary><c>IsMatch(target, pattern)</c>: whether the value, as text, matches (ottlfuncs/func_is_match.go).</summary>
internal sealed class IsMatch() : OttlConverter("IsMatch", OttlType.Bool, new("target", OttlParamKind.Value), new("pattern", OttlParamKind.Regex))
{
    public override Func<OttlContext, object?> Compile(OttlArguments args)
    {
        var target = args.Value(0).Get;
        var regex = args.Regex(1);
        return c => OttlValues.StringLike(target(c)) is { } s && regex.IsMatch(s);
    }
}
