using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Google.Protobuf.Collections;
using OpenTelemetry.Proto.Common.V1;
using ServerlessOtlp.Otlp;

namespace ServerlessOtlp.Pipeline.Ottl;

/// <summary>A transform statement compiled to a delegate; runs once per item of <see cref="Context"/>.</summary>
public sealed class OttlStatement
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
public sealed class OttlCondition
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

/// <summary>
/// Type-checks a parsed statement or condition for a signal and compiles it to delegates. Every
/// problem is an <see cref="OttlParseException"/> with the column of the offending node, so that
/// a tenant file is refused at apply time rather than failing at run time.
/// </summary>
public sealed class OttlCompiler
{
    /// <summary>Longest a regular expression may run on one value (a guard against catastrophic backtracking).</summary>
    public static readonly TimeSpan RegexMatchTimeout = TimeSpan.FromMilliseconds(100);

    private readonly Signal _signal;
    private readonly bool _validateOnly;
    private OttlContextKind? _deepest;

    private OttlCompiler(Signal signal, bool validateOnly)
    {
        _signal = signal;
        _validateOnly = validateOnly;
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

    private OttlContextKind Context => _deepest ?? OttlContextKinds.Default(_signal);

    private sealed record Expr(Func<OttlContext, object?> Get, OttlType Type, OttlValue Node)
    {
        public Action<OttlContext, object?>? Set { get; init; }

        public OttlPathDef? Path { get; init; }
    }

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

    private Expr CompileValue(OttlValue value)
    {
        switch (value)
        {
            case OttlLiteral literal:
                {
                    object? constant = literal.Value;
                    return new Expr(_ => constant, TypeOf(constant), value);
                }

            case OttlEnum symbol:
                {
                    if (!OttlPaths.Enums.TryGetValue(symbol.Name, out long number))
                    {
                        throw new OttlParseException($"unknown enum symbol {symbol.Name}", symbol.Column);
                    }

                    object boxed = number;
                    return new Expr(_ => boxed, OttlType.Int, value);
                }

            case OttlList list:
                {
                    var items = list.Items.Select(i => CompileValue(i).Get).ToArray();
                    return new Expr(c => items.Select(i => i(c)).ToList(), OttlType.Any, value);
                }

            case OttlPath path:
                return CompilePath(path);

            default:
                {
                    var call = (OttlCall)value;
                    var function = FindFunction(call);
                    if (function.IsEditor)
                    {
                        throw new OttlParseException($"{call.Name} is an editor and returns no value; use a converter such as Concat or SHA256 here", call.Column);
                    }

                    return new Expr(CompileConverter(call, function, Bind(call, function)), function.Returns, value);
                }
        }
    }

    private Expr CompilePath(OttlPath path)
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
            return new Expr(def.Get, def.Type, path) { Set = def.Set, Path = def };
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

        return new Expr(c => OttlValues.Index(get(c), keys, text), OttlType.Any, path) { Set = set, Path = def };
    }

    private static OttlFunction FindFunction(OttlCall call) =>
        OttlFunction.All.TryGetValue(call.Name, out var function)
            ? function
            : throw new OttlParseException(
                $"unknown function {call.Name}; editors: {string.Join(", ", OttlFunction.All.Values.Where(f => f.IsEditor).Select(f => f.Name))}; converters: {string.Join(", ", OttlFunction.All.Values.Where(f => !f.IsEditor).Select(f => f.Name))}",
                call.Column);

    /// <summary>The call's arguments in parameter order (named ones placed by name); null for an absent optional one.</summary>
    private static OttlValue?[] Bind(OttlCall call, OttlFunction function)
    {
        var bound = new OttlValue?[function.Params.Length];
        bool named = false;
        for (int i = 0; i < call.Arguments.Count; i++)
        {
            var argument = call.Arguments[i];
            int slot = i;
            if (argument.Name is { } name)
            {
                named = true;
                slot = Array.FindIndex(function.Params, p => p.Name == name);
                if (slot < 0)
                {
                    throw new OttlParseException($"{call.Name} has no parameter named {name}", argument.Value.Column);
                }
            }
            else if (named)
            {
                throw new OttlParseException("a positional argument cannot follow a named one", argument.Value.Column);
            }

            if (slot >= function.Params.Length)
            {
                throw new OttlParseException($"{call.Name} expects {Arity(function)}, got {call.Arguments.Count}", argument.Value.Column);
            }

            if (bound[slot] is not null)
            {
                throw new OttlParseException($"{call.Name}: {function.Params[slot].Name} is given twice", argument.Value.Column);
            }

            bound[slot] = argument.Value;
        }

        for (int p = 0; p < bound.Length; p++)
        {
            if (bound[p] is null && !function.Params[p].Optional)
            {
                throw new OttlParseException($"{call.Name} expects {Arity(function)}, got {call.Arguments.Count} (missing {function.Params[p].Name})", call.Column);
            }
        }

        return bound;
    }

    private static string Arity(OttlFunction function) =>
        function.Required == function.Params.Length
            ? $"{function.Params.Length} argument{(function.Params.Length == 1 ? "" : "s")}"
            : $"{function.Required} to {function.Params.Length} arguments";

    private Action<OttlContext> CompileEditor(OttlCall call)
    {
        var function = FindFunction(call);
        if (!function.IsEditor)
        {
            throw new OttlParseException($"{call.Name} is a converter; a statement starts with an editor such as set(...)", call.Column);
        }

        var args = Bind(call, function);
        switch (call.Name)
        {
            case "set":
                {
                    var target = Target(call, args[0]!);
                    var value = CompileValue(args[1]!);
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

            case "delete_key":
                {
                    var map = MapTarget(call, args[0]!);
                    string key = StringLiteral(call, args[1]!);
                    return c => WithMap(c, map, m => OttlFunctionRuntime.DeleteKey(m, key));
                }

            case "delete_matching_keys":
                {
                    var map = MapTarget(call, args[0]!);
                    var regex = RegexLiteral(call, args[1]!);
                    return c => WithMap(c, map, m => OttlFunctionRuntime.DeleteMatchingKeys(m, regex));
                }

            case "keep_keys":
                {
                    var map = MapTarget(call, args[0]!);
                    var keys = StringList(call, args[1]!).ToHashSet(StringComparer.Ordinal);
                    return c => WithMap(c, map, m => OttlFunctionRuntime.KeepKeys(m, keys));
                }

            case "limit":
                {
                    var map = MapTarget(call, args[0]!);
                    long limit = IntLiteral(call, args[1]!);
                    var priority = args[2] is { } p ? StringList(call, p).ToHashSet(StringComparer.Ordinal) : [];
                    if (limit < 0)
                    {
                        throw new OttlParseException($"limit: the limit must not be negative, got {limit}", args[1]!.Column);
                    }

                    if (priority.Count > limit)
                    {
                        throw new OttlParseException($"limit: the limit {limit} is less than the number of priority keys ({priority.Count})", args[1]!.Column);
                    }

                    return c => WithMap(c, map, m => OttlFunctionRuntime.Limit(m, limit, priority));
                }

            case "truncate_all":
                {
                    var map = MapTarget(call, args[0]!);
                    long limit = IntLiteral(call, args[1]!);
                    if (limit < 0)
                    {
                        throw new OttlParseException($"truncate_all: the limit must not be negative, got {limit}", args[1]!.Column);
                    }

                    return c => WithMap(c, map, m => OttlFunctionRuntime.TruncateAll(m, limit));
                }

            case "replace_pattern":
                {
                    var target = Target(call, args[0]!);
                    var regex = RegexLiteral(call, args[1]!);
                    string replacement = StringLiteral(call, args[2]!);
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

            default: // replace_all_patterns
                {
                    var map = MapTarget(call, args[0]!);
                    string mode = StringLiteral(call, args[1]!);
                    if (mode is not ("key" or "value"))
                    {
                        throw new OttlParseException($"replace_all_patterns: mode must be \"key\" or \"value\", got \"{mode}\"", args[1]!.Column);
                    }

                    var regex = RegexLiteral(call, args[2]!);
                    string replacement = StringLiteral(call, args[3]!);
                    bool keys = mode == "key";
                    return c => WithMap(c, map, m => OttlFunctionRuntime.ReplaceAllPatterns(m, keys, regex, replacement));
                }
        }
    }

    private Func<OttlContext, object?> CompileConverter(OttlCall call, OttlFunction function, OttlValue?[] args)
    {
        switch (call.Name)
        {
            case "SHA256":
                {
                    var value = CompileValue(args[0]!).Get;
                    return c => OttlFunctionRuntime.Sha256(value(c));
                }

            case "Concat":
                {
                    if (args[0] is not OttlList list)
                    {
                        throw new OttlParseException("Concat: vals must be a list such as [a, b]", args[0]!.Column);
                    }

                    var items = list.Items.Select(i => CompileValue(i).Get).ToArray();
                    string delimiter = StringLiteral(call, args[1]!);
                    return c =>
                    {
                        var sb = new StringBuilder();
                        for (int i = 0; i < items.Length; i++)
                        {
                            // Go's fmt.Sprint of a nil *string, as the Collector's Concat writes it.
                            sb.Append(i == 0 ? "" : delimiter).Append(OttlValues.StringLike(items[i](c)) ?? "<nil>");
                        }

                        return sb.ToString();
                    };
                }

            case "IsMatch":
                {
                    var target = CompileValue(args[0]!).Get;
                    var regex = RegexLiteral(call, args[1]!);
                    return c => OttlValues.StringLike(target(c)) is { } s && regex.IsMatch(s);
                }

            default: // IsString
                {
                    var value = CompileValue(args[0]!).Get;
                    return c => value(c) is string;
                }
        }
    }

    private static void WithMap(OttlContext c, Expr map, Action<RepeatedField<KeyValue>> edit)
    {
        switch (map.Get(c))
        {
            case null:
                return;
            case RepeatedField<KeyValue> m:
                edit(m);
                return;
            case var other:
                throw new OttlRuntimeException($"{((OttlPath)map.Node).Text}: expected a map but got {OttlValues.TypeName(other)}");
        }
    }

    private Expr Target(OttlCall call, OttlValue value)
    {
        if (value is not OttlPath)
        {
            throw new OttlParseException($"{call.Name}: the target must be a path such as span.attributes[\"key\"]", value.Column);
        }

        var expr = CompileValue(value);
        if (expr.Set is null)
        {
            throw new OttlParseException($"{call.Name}: {((OttlPath)value).Text} cannot be set", value.Column);
        }

        return expr;
    }

    private Expr MapTarget(OttlCall call, OttlValue value)
    {
        var expr = Target(call, value);
        if (expr.Type is not (OttlType.Map or OttlType.Any))
        {
            throw new OttlParseException($"{call.Name}: {((OttlPath)value).Text} is {Article(expr.Type)}, not a map", value.Column);
        }

        return expr;
    }

    private static void CheckAssignable(Expr target, Expr value)
    {
        if (value.Node is not (OttlLiteral or OttlEnum) || value.Type == OttlType.Any || target.Type == OttlType.Any || target.Type == value.Type)
        {
            return;
        }

        // A literal of the wrong type would be ignored at run time, as the Collector's setters do: refuse it now.
        throw new OttlParseException($"{((OttlPath)target.Node).Text} is {Article(target.Type)}; it cannot be set to {Article(value.Type)}", value.Node.Column);
    }

    private static string StringLiteral(OttlCall call, OttlValue value) =>
        value is OttlLiteral { Value: string s } ? s : throw new OttlParseException($"{call.Name}: expected a string literal", value.Column);

    private static long IntLiteral(OttlCall call, OttlValue value) =>
        value is OttlLiteral { Value: long l } ? l : throw new OttlParseException($"{call.Name}: expected an int literal", value.Column);

    private static string[] StringList(OttlCall call, OttlValue value)
    {
        if (value is not OttlList list)
        {
            throw new OttlParseException($"{call.Name}: expected a list of strings such as [\"a\", \"b\"]", value.Column);
        }

        return list.Items.Select(i => StringLiteral(call, i)).ToArray();
    }

    private Regex RegexLiteral(OttlCall call, OttlValue value)
    {
        string pattern = StringLiteral(call, value);
        try
        {
            // Go's RE2 spells named groups (?P<name>…); .NET accepts (?<name>…).
            pattern = pattern.Replace("(?P<", "(?<", StringComparison.Ordinal);
            var options = RegexOptions.CultureInvariant | (_validateOnly ? RegexOptions.None : RegexOptions.Compiled);
            return new Regex(pattern, options, RegexMatchTimeout);
        }
        catch (ArgumentException ex)
        {
            throw new OttlParseException($"{call.Name}: invalid regular expression: {ex.Message}", value.Column);
        }
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

    private static string Article(OttlType type) => (type == OttlType.Int ? "an " : "a ") + TypeName(type);

    internal static string Describe(OttlParseException ex) => string.Create(CultureInfo.InvariantCulture, $"{ex.Line}:{ex.Column}: {ex.Reason}");
}
