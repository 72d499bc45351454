namespace ServerlessOtlp.Pipeline.Ottl.Functions;

/// <summary><c>set(target, value)</c>: writes the value into the path (ottlfuncs/func_set.go).</summary>
internal sealed class Set() : OttlEditor("set", new("target", OttlParamKind.Target), new("value", OttlParamKind.Value))
{
    public override Action<OttlContext> Compile(OttlArguments args)
    {
        var target = args.Target(0);
        var value = args.Value(1);
        CheckAssignable(target, value);
        var set = target.Set!;
        var get = value.Get;
        return c =>
        {
            // The Collector's set: a nil value (e.g. an absent attribute) changes nothing.
            if (get(c) is { } v)
            {
                set(c, v);
            }
        };
    }

    private static void CheckAssignable(OttlExpr target, OttlExpr value)
    {
        if (value.Node is not (OttlLiteral or OttlEnum) || value.Type == OttlType.Any || target.Type == OttlType.Any || target.Type == value.Type)
        {
            return;
        }

        // A literal of the wrong type would be ignored at run time, as the Collector's setters do: refuse it now.
        throw new OttlParseException($"{((OttlPath)target.Node).Text} is {OttlCompiler.Article(target.Type)}; it cannot be set to {OttlCompiler.Article(value.Type)}", value.Node.Column);
    }
}
