namespace ServerlessOtlp.Pipeline.Ottl.Functions;

/// <summary><c>replace_pattern(target, regex, replacement)</c>: rewrites a string value by the pattern (ottlfuncs/func_replace_pattern.go).</summary>
internal sealed class ReplacePattern() : OttlEditor("replace_pattern", new("target", OttlParamKind.Target), new("regex", OttlParamKind.Regex), new("replacement", OttlParamKind.String))
{
    public override Action<OttlContext> Compile(OttlArguments args)
    {
        var target = args.Target(0);
        var regex = args.Regex(1);
        string replacement = args.String(2);
        var get = target.Get;
        var set = target.Set!;
        return c =>
        {
            if (get(c) is string s && regex.IsMatch(s))
            {
                set(c, regex.Replace(s, replacement));
            }
        };
    }
}
