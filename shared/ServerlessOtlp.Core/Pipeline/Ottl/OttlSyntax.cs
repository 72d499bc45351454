namespace ServerlessOtlp.Pipeline.Ottl;

// The syntax tree of the OTTL subset (the Collector's pkg/ottl grammar). Every node carries the
// 1-based column of its first character: a statement is one line, so the column is its offset + 1.

/// <summary>A statement: an editor call with an optional <c>where</c> condition.</summary>
internal sealed record OttlStatementSyntax(OttlCall Editor, OttlBoolExpression? Where);

/// <summary>Something that yields a value: a literal, an enum symbol, a path, a list or a converter call.</summary>
internal abstract record OttlValue(int Column);

/// <summary>A string, int (long), float (double), bool, bytes (byte[]) or nil (null) literal.</summary>
internal sealed record OttlLiteral(object? Value, int Column) : OttlValue(Column);

/// <summary>An upper-case symbol such as <c>SPAN_KIND_SERVER</c>.</summary>
internal sealed record OttlEnum(string Name, int Column) : OttlValue(Column);

/// <summary>
/// A path: dotted segments, then keys (<c>span.attributes["http.method"]</c>): each key is a
/// string (map key) or a long (list index).
/// </summary>
internal sealed record OttlPath(IReadOnlyList<string> Segments, IReadOnlyList<object> Keys, int Column) : OttlValue(Column)
{
    public string Text => string.Join('.', Segments) + string.Concat(Keys.Select(k => k is string s ? $"[\"{s}\"]" : $"[{k}]"));
}

/// <summary>A list literal <c>[a, b]</c>.</summary>
internal sealed record OttlList(IReadOnlyList<OttlValue> Items, int Column) : OttlValue(Column);

/// <summary>A function call: an editor (lower-case name) or a converter (upper-case name).</summary>
internal sealed record OttlCall(string Name, IReadOnlyList<OttlArgument> Arguments, int Column) : OttlValue(Column)
{
    public bool IsEditor => char.IsLower(Name[0]);
}

/// <summary>A call argument, positional (<see cref="Name"/> null) or named (<c>name = value</c>).</summary>
internal sealed record OttlArgument(string? Name, OttlValue Value);

/// <summary>A condition.</summary>
internal abstract record OttlBoolExpression(int Column);

internal sealed record OttlOr(OttlBoolExpression Left, OttlBoolExpression Right) : OttlBoolExpression(Left.Column);

internal sealed record OttlAnd(OttlBoolExpression Left, OttlBoolExpression Right) : OttlBoolExpression(Left.Column);

internal sealed record OttlNot(OttlBoolExpression Operand, int Column) : OttlBoolExpression(Column);

internal sealed record OttlComparison(OttlValue Left, OttlCompareOp Op, OttlValue Right, int OpColumn) : OttlBoolExpression(Left.Column);

/// <summary>A value used as a condition: <c>true</c>, <c>false</c> or a converter returning a bool (<c>IsMatch(…)</c>).</summary>
internal sealed record OttlBoolValue(OttlValue Value) : OttlBoolExpression(Value.Column);

public enum OttlCompareOp
{
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

/// <summary>
/// A statement or condition that does not parse or does not type-check. <see cref="Column"/> is
/// 1-based inside the statement; <see cref="Reason"/> is the message without the position.
/// </summary>
internal sealed class OttlParseException : Exception
{
    public OttlParseException(string reason, int column)
        : base($"{reason} at column {column}")
    {
        Reason = reason;
        Column = column;
    }

    /// <summary>Statements are single-line strings: always 1.</summary>
    public int Line => 1;

    public int Column { get; }

    public string Reason { get; }
}

/// <summary>A statement failed while it ran on one item (the Collector's evaluation errors).</summary>
internal sealed class OttlRuntimeException : Exception
{
    public OttlRuntimeException(string message)
        : base(message)
    {
    }
}
