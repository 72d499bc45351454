using System.CommandLine;

namespace ServerlessOtlp.Cli.Terminal;

/// <summary><c>--output table|json</c>, on every command that prints data (CONTRACTS.md, "otlpctl").</summary>
internal static class OutputFormat
{
    public const string Table = "table";
    public const string Json = "json";

    public static readonly string[] All = [Table, Json];

    public static Option<string> CreateOption()
    {
        var output = new Option<string>("--output", "-o") { Description = "table or json (JSON goes to stdout alone)", DefaultValueFactory = _ => Table };
        output.AcceptOnlyFromAmong(All);
        return output;
    }

    public static bool IsJson(this ParseResult parse, Option<string> output) => parse.GetValue(output) == Json;
}
