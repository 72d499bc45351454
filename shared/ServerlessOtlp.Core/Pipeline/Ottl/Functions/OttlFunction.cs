using Google.Protobuf.Collections;
using OpenTelemetry.Proto.Common.V1;

namespace ServerlessOtlp.Pipeline.Ottl.Functions;

/// <summary>What a function parameter accepts, checked at compile time.</summary>
internal enum OttlParamKind
{
    /// <summary>A path that can be set (the Collector's GetSetter).</summary>
    Target,

    /// <summary>A path to a map (attributes, or a key holding a map).</summary>
    MapTarget,

    /// <summary>Any value expression.</summary>
    Value,

    /// <summary>A string literal.</summary>
    String,

    /// <summary>An int literal.</summary>
    Int,

    /// <summary>A list literal of strings.</summary>
    StringList,

    /// <summary>A list literal of value expressions.</summary>
    ValueList,

    /// <summary>A string literal holding a regular expression, compiled once.</summary>
    Regex,
}

internal sealed record OttlParam(string Name, OttlParamKind Kind, bool Optional = false);

/// <summary>
/// A function of the subset, as the Collector's ottlfuncs declare them: a name and parameters
/// (which calls bind to, by position or by name), and a compile step that checks the arguments
/// and returns what runs per item. An editor (lower-case name) is a statement; a converter
/// (upper-case name) returns a value.
/// </summary>
internal abstract class OttlFunction(string name, OttlType returns, params OttlParam[] parameters)
{
    public string Name { get; } = name;

    public OttlType Returns { get; } = returns;

    public OttlParam[] Params { get; } = parameters;

    public int Required { get; } = parameters.Count(p => !p.Optional);
}

/// <summary>A function that changes the item: the editor of a statement (<c>set(…)</c>).</summary>
internal abstract class OttlEditor(string name, params OttlParam[] parameters) : OttlFunction(name, OttlType.Any, parameters)
{
    /// <summary>Checks the arguments (an <see cref="OttlParseException"/> at the offending one) and returns the edit.</summary>
    public abstract Action<OttlContext> Compile(OttlArguments args);
}

/// <summary>
/// An editor of the map its first argument names: runs on the map when the path holds one,
/// does nothing when it holds nothing, fails on any other value.
/// </summary>
internal abstract class OttlMapEditor(string name, params OttlParam[] parameters) : OttlEditor(name, parameters)
{
    public sealed override Action<OttlContext> Compile(OttlArguments args)
    {
        var map = args.MapTarget(0);
        var edit = CompileEdit(args);
        var get = map.Get;
        return c =>
        {
            switch (get(c))
            {
                case null:
                    return;
                case RepeatedField<KeyValue> m:
                    edit(m);
                    return;
                case var other:
                    throw new OttlRuntimeException($"{((OttlPath)map.Node).Text}: expected a map but got {OttlValues.TypeName(other)}");
            }
        };
    }

    /// <summary>Checks the arguments after the map and returns the edit of one map.</summary>
    protected abstract Action<RepeatedField<KeyValue>> CompileEdit(OttlArguments args);

    /// <summary>Removes the entries whose key <paramref name="remove"/> picks, in place, keeping the others' order.</summary>
    protected static void RemoveKeys(RepeatedField<KeyValue> map, Func<string, bool> remove)
    {
        for (int i = map.Count - 1; i >= 0; i--)
        {
            if (remove(map[i].Key))
            {
                map.RemoveAt(i);
            }
        }
    }
}

/// <summary>A function that returns a value (<c>SHA256(…)</c>), in a value or a condition.</summary>
internal abstract class OttlConverter(string name, OttlType returns, params OttlParam[] parameters) : OttlFunction(name, returns, parameters)
{
    /// <summary>Checks the arguments (an <see cref="OttlParseException"/> at the offending one) and returns the conversion.</summary>
    public abstract Func<OttlContext, object?> Compile(OttlArguments args);
}
