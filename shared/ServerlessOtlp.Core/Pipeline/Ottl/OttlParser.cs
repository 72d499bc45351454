using System.Globalization;

namespace ServerlessOtlp.Pipeline.Ottl;

/// <summary>
/// Recursive-descent parser of the OTTL subset into <see cref="OttlStatementSyntax"/> and
/// <see cref="OttlBoolExpression"/>. Grammar (the Collector's, without math and map literals):
/// <code>
/// statement  = editor [ "where" condition ]
/// condition  = and { "or" and } ;  and = not { "and" not } ;  not = "not" not | term
/// term       = "(" condition ")" | value op value | "true" | "false" | Converter(...)
/// value      = string | int | float | bytes | "true" | "false" | "nil" | ENUM | path | list | Converter(...)
/// path       = name { "." name } { "[" (string | int) "]" }
/// call       = Name "(" [ arg { "," arg } ] ")" ;  arg = [ name "=" ] value
/// </code>
/// Errors are <see cref="OttlParseException"/> with the column of the offending token.
/// </summary>
internal sealed partial class OttlParser
{
    private readonly List<Token> _tokens;
    private int _next;

    private OttlParser(string text)
    {
        _tokens = Lex(text);
    }

    /// <summary>Parses an editor call with an optional <c>where</c> clause.</summary>
    public static OttlStatementSyntax ParseStatement(string text)
    {
        var parser = new OttlParser(text);
        var first = parser.Peek();
        if (first.Kind != TokenKind.Name || parser.PeekAt(1).Kind != TokenKind.LParen)
        {
            throw new OttlParseException("expected an editor call such as set(...) (a condition belongs in filters, when or after where)", first.Column);
        }

        var editor = parser.ParseCall();
        OttlBoolExpression? where = null;
        if (parser.Peek().IsName("where"))
        {
            parser._next++;
            where = parser.ParseOr();
        }

        parser.ExpectEnd(where is null ? "expected 'where' or the end of the statement" : null);
        return new OttlStatementSyntax(editor, where);
    }

    /// <summary>Parses a condition (filters, <c>when</c>).</summary>
    public static OttlBoolExpression ParseCondition(string text)
    {
        var parser = new OttlParser(text);
        var first = parser.Peek();
        if (first.Kind == TokenKind.Name && char.IsLower(first.Text[0]) && first.Text != "not" && parser.PeekAt(1).Kind == TokenKind.LParen)
        {
            throw new OttlParseException($"expected a condition, got a call of the editor {first.Text}(...) (editors belong in transforms)", first.Column);
        }

        var condition = parser.ParseOr();
        parser.ExpectEnd(null);
        return condition;
    }

    private Token Peek() => _tokens[_next];

    private Token PeekAt(int ahead) => _tokens[Math.Min(_next + ahead, _tokens.Count - 1)];

    private Token Take() => _tokens[_next++];

    private void ExpectEnd(string? message)
    {
        var token = Peek();
        if (token.Kind != TokenKind.End)
        {
            throw new OttlParseException(message ?? $"unexpected {Describe(token)}", token.Column);
        }
    }

    private Token Expect(TokenKind kind, string what)
    {
        var token = Peek();
        if (token.Kind != kind)
        {
            throw new OttlParseException($"expected {what}", token.Column);
        }

        return Take();
    }

    private OttlBoolExpression ParseOr()
    {
        var left = ParseAnd();
        while (Peek().IsName("or"))
        {
            _next++;
            left = new OttlOr(left, ParseAnd());
        }

        return left;
    }

    private OttlBoolExpression ParseAnd()
    {
        var left = ParseNot();
        while (Peek().IsName("and"))
        {
            _next++;
            left = new OttlAnd(left, ParseNot());
        }

        return left;
    }

    private OttlBoolExpression ParseNot()
    {
        var token = Peek();
        if (token.IsName("not"))
        {
            _next++;
            return new OttlNot(ParseNot(), token.Column);
        }

        return ParseTerm();
    }

    private OttlBoolExpression ParseTerm()
    {
        var token = Peek();
        if (token.Kind == TokenKind.LParen)
        {
            _next++;
            var inner = ParseOr();
            Expect(TokenKind.RParen, "')'");
            return inner;
        }

        if (token.Kind == TokenKind.End)
        {
            throw new OttlParseException("expected a condition", token.Column);
        }

        var left = ParseValue("a condition");
        var op = Peek();
        if (op.Kind == TokenKind.Compare)
        {
            _next++;
            var right = ParseValue("a value after " + op.Text);
            return new OttlComparison(left, CompareOp(op.Text), right, op.Column);
        }

        if (left is OttlLiteral { Value: bool } || left is OttlCall)
        {
            return new OttlBoolValue(left);
        }

        throw new OttlParseException($"expected a comparison operator (==, !=, <, <=, >, >=) after {Describe(left)}", op.Column);
    }

    private OttlValue ParseValue(string what)
    {
        var token = Peek();
        switch (token.Kind)
        {
            case TokenKind.String:
            case TokenKind.Int:
            case TokenKind.Float:
            case TokenKind.Bytes:
                _next++;
                return new OttlLiteral(token.Value, token.Column);
            case TokenKind.LBracket:
                return ParseList();
            case TokenKind.Name:
                break;
            default:
                throw new OttlParseException($"expected {what}", token.Column);
        }

        if (PeekAt(1).Kind == TokenKind.LParen)
        {
            return ParseCall();
        }

        switch (token.Text)
        {
            case "true":
                _next++;
                return new OttlLiteral(true, token.Column);
            case "false":
                _next++;
                return new OttlLiteral(false, token.Column);
            case "nil":
                _next++;
                return new OttlLiteral(null, token.Column);
            case "where" or "and" or "or" or "not":
                throw new OttlParseException($"expected {what}, got the keyword '{token.Text}'", token.Column);
        }

        if (char.IsUpper(token.Text[0]))
        {
            _next++;
            return new OttlEnum(token.Text, token.Column);
        }

        return ParsePath();
    }

    private OttlPath ParsePath()
    {
        var first = Take();
        var segments = new List<string> { first.Text };
        while (Peek().Kind == TokenKind.Dot)
        {
            _next++;
            segments.Add(Expect(TokenKind.Name, "a path segment after '.'").Text);
        }

        var keys = new List<object>();
        while (Peek().Kind == TokenKind.LBracket)
        {
            _next++;
            var key = Peek();
            if (key.Kind is not (TokenKind.String or TokenKind.Int))
            {
                throw new OttlParseException("expected a string key or an int index", key.Column);
            }

            _next++;
            keys.Add(key.Value!);
            Expect(TokenKind.RBracket, "']'");
        }

        return new OttlPath(segments, keys, first.Column);
    }

    private OttlList ParseList()
    {
        var open = Take();
        var items = new List<OttlValue>();
        if (Peek().Kind == TokenKind.RBracket)
        {
            _next++;
            return new OttlList(items, open.Column);
        }

        while (true)
        {
            items.Add(ParseValue("a list item or ']'"));
            var token = Take();
            if (token.Kind == TokenKind.RBracket)
            {
                return new OttlList(items, open.Column);
            }

            if (token.Kind != TokenKind.Comma)
            {
                throw new OttlParseException("expected ',' or ']'", token.Column);
            }
        }
    }

    private OttlCall ParseCall()
    {
        var name = Take();
        Take(); // "("
        var arguments = new List<OttlArgument>();
        if (Peek().Kind == TokenKind.RParen)
        {
            _next++;
            return new OttlCall(name.Text, arguments, name.Column);
        }

        while (true)
        {
            string? argumentName = null;
            if (Peek().Kind == TokenKind.Name && PeekAt(1).Kind == TokenKind.Assign)
            {
                argumentName = Take().Text;
                _next++;
            }

            arguments.Add(new OttlArgument(argumentName, ParseValue(arguments.Count == 0 && argumentName is null ? "an argument or ')'" : "an argument")));
            var token = Peek();
            if (token.Kind == TokenKind.RParen)
            {
                _next++;
                return new OttlCall(name.Text, arguments, name.Column);
            }

            if (token.Kind != TokenKind.Comma)
            {
                throw new OttlParseException("expected ',' or ')'", token.Column);
            }

            _next++;
        }
    }

    private static OttlCompareOp CompareOp(string text) => text switch
    {
        "==" => OttlCompareOp.Equal,
        "!=" => OttlCompareOp.NotEqual,
        "<" => OttlCompareOp.Less,
        "<=" => OttlCompareOp.LessOrEqual,
        ">" => OttlCompareOp.Greater,
        _ => OttlCompareOp.GreaterOrEqual,
    };

    private static string Describe(Token token) => token.Kind == TokenKind.End ? "end of input" : $"'{token.Text}'";

    private static string Describe(OttlValue value) => value switch
    {
        OttlPath p => p.Text,
        OttlEnum e => e.Name,
        OttlLiteral { Value: string s } => $"\"{s}\"",
        OttlLiteral { Value: null } => "nil",
        OttlLiteral l => Convert.ToString(l.Value, CultureInfo.InvariantCulture) ?? "",
        _ => "the list",
    };
}
