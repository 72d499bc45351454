using System.Globalization;
using System.Text;

namespace ServerlessOtlp.Pipeline.Ottl;

// The lexer: statement text to tokens (names, literals with their values, punctuation, operators), each with its column.
internal sealed partial class OttlParser
{
    private enum TokenKind
    {
        Name,
        String,
        Int,
        Float,
        Bytes,
        LParen,
        RParen,
        LBracket,
        RBracket,
        Comma,
        Dot,
        Assign,
        Compare,
        End,
    }

    private readonly record struct Token(TokenKind Kind, string Text, object? Value, int Column)
    {
        public bool IsName(string name) => Kind == TokenKind.Name && Text == name;
    }

    private static List<Token> Lex(string text)
    {
        var tokens = new List<Token>();
        int i = 0;
        while (true)
        {
            while (i < text.Length && char.IsWhiteSpace(text[i]))
            {
                i++;
            }

            if (i >= text.Length)
            {
                tokens.Add(new Token(TokenKind.End, "", null, text.Length + 1));
                return tokens;
            }

            int start = i;
            char c = text[i];
            if (char.IsAsciiLetter(c) || c == '_')
            {
                while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] == '_'))
                {
                    i++;
                }

                tokens.Add(new Token(TokenKind.Name, text[start..i], null, start + 1));
            }
            else if (c == '"')
            {
                tokens.Add(new Token(TokenKind.String, "", LexString(text, ref i), start + 1));
            }
            else if (c == '0' && i + 1 < text.Length && text[i + 1] is 'x' or 'X')
            {
                i += 2;
                while (i < text.Length && char.IsAsciiHexDigit(text[i]))
                {
                    i++;
                }

                string hex = text[(start + 2)..i];
                if (hex.Length == 0 || hex.Length % 2 != 0)
                {
                    throw new OttlParseException("expected an even number of hexadecimal digits after 0x", start + 1);
                }

                tokens.Add(new Token(TokenKind.Bytes, text[start..i], Convert.FromHexString(hex), start + 1));
            }
            else if (char.IsAsciiDigit(c) || ((c is '-' or '+') && i + 1 < text.Length && (char.IsAsciiDigit(text[i + 1]) || text[i + 1] == '.')) || (c == '.' && i + 1 < text.Length && char.IsAsciiDigit(text[i + 1])))
            {
                tokens.Add(LexNumber(text, ref i));
            }
            else
            {
                i++;
                var (kind, length) = c switch
                {
                    '(' => (TokenKind.LParen, 1),
                    ')' => (TokenKind.RParen, 1),
                    '[' => (TokenKind.LBracket, 1),
                    ']' => (TokenKind.RBracket, 1),
                    ',' => (TokenKind.Comma, 1),
                    '.' => (TokenKind.Dot, 1),
                    '=' when At(text, i) == '=' => (TokenKind.Compare, 2),
                    '=' => (TokenKind.Assign, 1),
                    '!' when At(text, i) == '=' => (TokenKind.Compare, 2),
                    '<' or '>' when At(text, i) == '=' => (TokenKind.Compare, 2),
                    '<' or '>' => (TokenKind.Compare, 1),
                    _ => throw new OttlParseException($"unexpected character '{c}'", start + 1),
                };
                i = start + length;
                tokens.Add(new Token(kind, text[start..i], null, start + 1));
            }
        }
    }

    private static char At(string text, int i) => i < text.Length ? text[i] : '\0';

    private static Token LexNumber(string text, ref int i)
    {
        int start = i;
        if (text[i] is '-' or '+')
        {
            i++;
        }

        bool isFloat = false;
        while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] == '.' || text[i] is 'e' or 'E' || (text[i] is '-' or '+' && text[i - 1] is 'e' or 'E')))
        {
            isFloat |= !char.IsAsciiDigit(text[i]);
            i++;
        }

        string number = text[start..i];
        if (isFloat)
        {
            if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out double d))
            {
                throw new OttlParseException($"invalid number '{number}'", start + 1);
            }

            return new Token(TokenKind.Float, number, d, start + 1);
        }

        if (!long.TryParse(number, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l))
        {
            throw new OttlParseException($"integer '{number}' does not fit in 64 bits", start + 1);
        }

        return new Token(TokenKind.Int, number, l, start + 1);
    }

    // Go's strconv.Unquote rules for the escapes OTTL users write.
    private static string LexString(string text, ref int i)
    {
        int start = i;
        i++;
        var sb = new StringBuilder();
        while (i < text.Length)
        {
            char c = text[i++];
            if (c == '"')
            {
                return sb.ToString();
            }

            if (c != '\\')
            {
                sb.Append(c);
                continue;
            }

            if (i >= text.Length)
            {
                break;
            }

            char e = text[i++];
            switch (e)
            {
                case '"': sb.Append('"'); break;
                case '\\': sb.Append('\\'); break;
                case '/': sb.Append('/'); break;
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'r': sb.Append('\r'); break;
                case 'u' when i + 4 <= text.Length && ushort.TryParse(text.AsSpan(i, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ushort u):
                    sb.Append((char)u);
                    i += 4;
                    break;
                default:
                    // The Collector's pattern lexer keeps unknown escapes (regexes such as "\\d" written "\d").
                    sb.Append('\\').Append(e);
                    break;
            }
        }

        throw new OttlParseException("unterminated string", start + 1);
    }
}
