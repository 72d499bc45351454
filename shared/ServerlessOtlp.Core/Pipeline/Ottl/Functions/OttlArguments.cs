using System.Text.RegularExpressions;

namespace ServerlessOtlp.Pipeline.Ottl.Functions;

/// <summary>
/// One call's arguments bound to its function's parameters, with the compile-time reading of
/// each kind: a function reads its arguments in order, and the first that does not fit is an
/// <see cref="OttlParseException"/> at its column (<c>name: reason</c>).
/// </summary>
internal sealed class OttlArguments
{
    private readonly OttlCompiler _compiler;
    private readonly OttlValue?[] _values;

    private OttlArguments(OttlCompiler compiler, OttlCall call, OttlValue?[] values)
    {
        _compiler = compiler;
        Call = call;
        _values = values;
    }

    public OttlCall Call { get; }

    /// <summary>The argument of parameter <paramref name="index"/>; for an optional one, check <see cref="IsGiven"/> first.</summary>
    public OttlValue this[int index] => _values[index]!;

    public bool IsGiven(int index) => _values[index] is not null;

    /// <summary>Places the call's arguments in parameter order (named ones by name); an absent optional one stays null.</summary>
    public static OttlArguments Bind(OttlCompiler compiler, OttlCall call, OttlFunction function)
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

        return new OttlArguments(compiler, call, bound);
    }

    /// <summary>A refusal of argument <paramref name="index"/>, prefixed with the function's name.</summary>
    public OttlParseException Error(int index, string reason) => new($"{Call.Name}: {reason}", this[index].Column);

    /// <summary>Any value expression.</summary>
    public OttlExpr Value(int index) => Value(this[index]);

    /// <summary>Any value expression: an argument, or an item of a list argument.</summary>
    public OttlExpr Value(OttlValue node) => _compiler.CompileValue(node);

    /// <summary>A path that can be set.</summary>
    public OttlExpr Target(int index)
    {
        var value = this[index];
        if (value is not OttlPath path)
        {
            throw Error(index, "the target must be a path such as span.attributes[\"key\"]");
        }

        var expr = Value(value);
        return expr.Set is null ? throw Error(index, $"{path.Text} cannot be set") : expr;
    }

    /// <summary>A path that can be set and holds a map.</summary>
    public OttlExpr MapTarget(int index)
    {
        var expr = Target(index);
        if (expr.Type is not (OttlType.Map or OttlType.Any))
        {
            throw Error(index, $"{((OttlPath)this[index]).Text} is {OttlCompiler.Article(expr.Type)}, not a map");
        }

        return expr;
    }

    public string String(int index) => StringLiteral(this[index]);

    public long Int(int index) =>
        this[index] is OttlLiteral { Value: long l } ? l : throw Error(index, "expected an int literal");

    public string[] StringList(int index)
    {
        if (this[index] is not OttlList list)
        {
            throw Error(index, "expected a list of strings such as [\"a\", \"b\"]");
        }

        return list.Items.Select(StringLiteral).ToArray();
    }

    /// <summary>A string literal compiled as a regular expression (RE2's <c>(?P&lt;name&gt;…)</c> accepted).</summary>
    public Regex Regex(int index)
    {
        string pattern = String(index);
        try
        {
            // Go's RE2 spells named groups (?P<name>…); .NET accepts (?<name>…).
            pattern = pattern.Replace("(?P<", "(?<", StringComparison.Ordinal);
            var options = RegexOptions.CultureInvariant | (_compiler.ValidateOnly ? RegexOptions.None : RegexOptions.Compiled);
            return new Regex(pattern, options, OttlCompiler.RegexMatchTimeout);
        }
        catch (ArgumentException ex)
        {
            throw Error(index, $"invalid regular expression: {ex.Message}");
        }
    }

    private static string Arity(OttlFunction function) =>
        function.Required == function.Params.Length
            ? $"{function.Params.Length} argument{(function.Params.Length == 1 ? "" : "s")}"
            : $"{function.Required} to {function.Params.Length} arguments";

    private string StringLiteral(OttlValue value) =>
        value is OttlLiteral { Value: string s } ? s : throw new OttlParseException($"{Call.Name}: expected a string literal", value.Column);
}
