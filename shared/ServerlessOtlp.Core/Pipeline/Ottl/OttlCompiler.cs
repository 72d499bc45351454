using System.Globalization;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Pipeline.Ottl.Functions;

namespace ServerlessOtlp.Pipeline.Ottl;

/// <summary>A transform statement compiled to a delegate; runs once per item of <see cref="Context"/>.</summary>
internal sealed class OttlStatement
{
    internal OttlStatement(string text, OttlContextKind context, Action<OttlContext> execute)
    {
        Text = text;
        Context = context;
        Execute = execute;
    }

    public string Text { get; }

    /// <summary>The deepest context the statement's paths name (the Collector's inferred context).</summary>
    public OttlContextKind Context { get; }

    /// <summary>Runs the statement on the current item; throws <see cref="OttlRuntimeException"/> on an evaluation error.</summary>
    public Action<OttlContext> Execute { get; }
}

/// <summary>A condition compiled to a delegate, evaluated once per item of <see cref="Context"/>.</summary>
internal sealed class OttlCondition
{
    internal OttlCondition(string text, OttlContextKind context, Func<OttlContext, bool> evaluate)
    {
        Text = text;
        Context = context;
        Evaluate = evaluate;
    }

    public string Text { get; }

    public OttlContextKind Context { get; }

    public Func<OttlContext, bool> Evaluate { get; }
}

/// <summary>A compiled value expression: how to read it, its static type, its node (for positions), and how to write it when it is a settable path.</summary>
internal sealed record OttlExpr(Func<OttlContext, object?> Get, OttlType Type, OttlValue Node)
{
    public Action<OttlContext, object?>? Set { get; init; }
}

/// <summary>
/// Type-checks a parsed statement or condition for a signal and compiles it to delegates. Every
/// problem is an <see cref="OttlParseException"/> with the column of the offending node, so that
/// a tenant file is refused at apply time rather than failing at run time.
/// </summary>
internal sealed class OttlCompiler
{
    /// <summary>Longest a regular expression may run on one value (a guard against catastrophic backtracking).</summary>
    public static readonly TimeSpan RegexMatchTimeout = TimeSpan.FromMilliseconds(100);

    private readonly Signal _signal;
    private OttlContextKind? _deepest;

    private OttlCompiler(Signal signal, bool validateOnly)
    {
        _signal = signal;
        ValidateOnly = validateOnly;
    }

    /// <summary>Parses and compiles a transform statement. <paramref name="validateOnly"/> skips compiling regexes to IL.</summary>
    public static OttlStatement CompileStatement(string text, Signal signal, bool validateOnly = false)
    {
        var syntax = OttlParser.ParseStatement(text);
        var compiler = new OttlCompiler(signal, validateOnly);
        var editor = compiler.CompileEditor(syntax.Editor);
        var where = syntax.Where is null ? null : compiler.CompileBool(syntax.Where);
        Action<OttlContext> execute = where is null ? editor : c =>
        {
            if (where(c))
            {
                editor(c);
            }
        };
        return new OttlStatement(text, compiler.Context, execute);
    }

    /// <summary>Parses and compiles a condition (filters, a destination's <c>when</c>).</summary>
    public static OttlCondition CompileCondition(string text, Signal signal, bool validateOnly = false)
    {
        var syntax = OttlParser.ParseCondition(text);
        var compiler = new OttlCompiler(signal, validateOnly);
        var evaluate = compiler.CompileBool(syntax);
        return new OttlCondition(text, compiler.Context, evaluate);
    }

    /// <summary>Compiling for the validator only: regular expressions are checked, not compiled to IL.</summary>
    internal bool ValidateOnly { get; }

    private OttlContextKind Context => _deepest ?? OttlContextKinds.Default(_signal);

    private Func<OttlContext, bool> CompileBool(OttlBoolExpression expression)
    {
        switch (expression)
        {
            case OttlOr or:
                {
                    var left = CompileBool(or.Left);
                    var right = CompileBool(or.Right);
                    return c => left(c) || right(c);
                }

            case OttlAnd and:
                {
                    var left = CompileBool(and.Left);
                    var right = CompileBool(and.Right);
                    return c => left(c) && right(c);
                }

            case OttlNot not:
                {
                    var operand = CompileBool(not.Operand);
                    return c => !operand(c);
                }

            case OttlComparison comparison:
                {
                    var left = CompileValue(comparison.Left).Get;
                    var right = CompileValue(comparison.Right).Get;
                    var op = comparison.Op;
                    return c => OttlValues.Compare(left(c), op, right(c));
                }

            default:
                {
                    var value = ((OttlBoolValue)expression).Value;
                    if (value is OttlLiteral { Value: bool constant })
                    {
                        return _ => constant;
                    }

                    var expr = CompileValue(value);
                    if (expr.Type != OttlType.Bool)
                    {
                        throw new OttlParseException($"{((OttlCall)value).Name} returns {Article(expr.Type)}, not a bool; compare it with ==, !=, <, <=, > or >=", value.Column);
                    }

                    var get = expr.Get;
                    return c => get(c) is true;
                }
        }
    }

    /// <summary>Compiles any value expression; the paths it names deepen the statement's context.</summary>
    internal OttlExpr CompileValue(OttlValue value)
    {
        switch (value)
        {
            case OttlLiteral literal:
                {
                    object? constant = literal.Value;
                    return new OttlExpr(_ => constant, TypeOf(constant), value);
                }

            case OttlEnum symbol:
                {
                    if (!OttlPaths.Enums.TryGetValue(symbol.Name, out long number))
                    {
                        throw new OttlParseException($"unknown enum symbol {symbol.Name}", symbol.Column);
                    }

                    object boxed = number;
                    return new OttlExpr(_ => boxed, OttlType.Int, value);
                }

            case OttlList list:
                {
                    var items = list.Items.Select(i => CompileValue(i).Get).ToArray();
                    return new OttlExpr(c => items.Select(i => i(c)).ToList(), OttlType.Any, value);
                }

            case OttlPath path:
                return CompilePath(path);

            default:
                {
                    var call = (OttlCall)value;
                    if (FindFunction(call) is not OttlConverter converter)
                    {
                        throw new OttlParseException($"{call.Name} is an editor and returns no value; use a converter such as Concat or SHA256 here", call.Column);
                    }

                    return new OttlExpr(converter.Compile(OttlArguments.Bind(this, call, converter)), converter.Returns, value);
                }
        }
    }

    private OttlExpr CompilePath(OttlPath path)
    {
        var segments = path.Segments;
        var context = OttlContextKinds.FromPrefix(segments[0]);
        string field;
        if (context is { } named && segments.Count > 1)
        {
            field = string.Join('.', segments.Skip(1));
        }
        else
        {
            context = OttlContextKinds.Default(_signal);
            field = string.Join('.', segments);
        }

        var kind = context.Value;
        if (!kind.IsAvailable(_signal))
        {
            string available = string.Join(", ", Enum.GetValues<OttlContextKind>().Where(k => k.IsAvailable(_signal)).Select(k => k.Name()));
            throw new OttlParseException($"{path.Text}: the {kind.Name()} context is not available for {_signal.ToName()} (contexts: {available})", path.Column);
        }

        var def = OttlPaths.Find(kind, field)
            ?? throw new OttlParseException($"unknown path {path.Text}; {kind.Name()} has {string.Join(", ", OttlPaths.FieldsOf(kind))}", path.Column);
        if (_deepest is null || kind.Depth() > _deepest.Value.Depth())
        {
            _deepest = kind;
        }

        if (path.Keys.Count == 0)
        {
            return new OttlExpr(def.Get, def.Type, path) { Set = def.Set };
        }

        if (def.Type is not (OttlType.Map or OttlType.Any))
        {
            throw new OttlParseException($"{path.Text}: {def.Text} is {Article(def.Type)} and has no keys", path.Column);
        }

        var keys = path.Keys.ToArray();
        string text = path.Text;
        var get = def.Get;
        Action<OttlContext, object?>? set = null;
        if (def.Map is { } map)
        {
            set = (c, v) => OttlValues.SetIndexed(map(c), keys, v, text);
        }
        else if (def.Value is { } container)
        {
            set = (c, v) => OttlValues.SetIndexed(container(c), keys, 0, v, text);
        }

        return new OttlExpr(c => OttlValues.Index(get(c), keys, text), OttlType.Any, path) { Set = set };
    }

    private static OttlFunction FindFunction(OttlCall call) =>
        OttlFunctionRegistry.Find(call.Name)
            ?? throw new OttlParseException(
                $"unknown function {call.Name}; editors: {string.Join(", ", OttlFunctionRegistry.All.OfType<OttlEditor>().Select(f => f.Name))}; converters: {string.Join(", ", OttlFunctionRegistry.All.OfType<OttlConverter>().Select(f => f.Name))}",
                call.Column);

    private Action<OttlContext> CompileEditor(OttlCall call)
    {
        if (FindFunction(call) is not OttlEditor editor)
        {
            throw new OttlParseException($"{call.Name} is a converter; a statement starts with an editor such as set(...)", call.Column);
        }

        return editor.Compile(OttlArguments.Bind(this, call, editor));
    }

    private static OttlType TypeOf(object? constant) => constant switch
    {
        string => OttlType.String,
        long => OttlType.Int,
        double => OttlType.Double,
        bool => OttlType.Bool,
        byte[] => OttlType.Bytes,
        _ => OttlType.Any,
    };

    private static string TypeName(OttlType type) => type switch
    {
        OttlType.String => "string",
        OttlType.Int => "int",
        OttlType.Double => "double",
        OttlType.Bool => "bool",
        OttlType.Bytes => "bytes",
        OttlType.Map => "map",
        _ => "value",
    };

    internal static string Article(OttlType type) => (type == OttlType.Int ? "an " : "a ") + TypeName(type);

    internal static string Describe(OttlParseException ex) => string.Create(CultureInfo.InvariantCulture, $"{ex.Line}:{ex.Column}: {ex.Reason}");
}
