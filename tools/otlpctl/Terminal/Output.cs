using System.Text;
using System.Text.Json;
using Spectre.Console;

namespace ServerlessOtlp.Cli.Terminal;

/// <summary>
/// How to talk to the user. Data (tables, JSON, keys, settings to copy) goes to stdout; messages,
/// progress, warnings and errors go to stderr, so that <c>otlpctl … | jq</c> and <c>key=$(otlpctl tenants add x)</c>
/// see the data alone. Live rendering and colours only where the stream is a terminal.
/// </summary>
internal static class Output
{
    // Wide enough for the status and dead-letter tables.
    private const int RedirectedWidth = 240;

    private static readonly IAnsiConsole ErrorConsole = AnsiConsole.Create(new AnsiConsoleSettings
    {
        Out = new AnsiConsoleOutput(Console.Error),
        Interactive = Console.IsErrorRedirected ? InteractionSupport.No : InteractionSupport.Detect,
    });

    /// <summary>True when stdout is a terminal: live tables and colours on stdout.</summary>
    public static bool Interactive => !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;

    /// <summary>True when stderr is a terminal: progress bars and spinners (they go to <see cref="Messages"/>).</summary>
    public static bool InteractiveMessages => !Console.IsErrorRedirected && ErrorConsole.Profile.Capabilities.Interactive;

    /// <summary>The console for progress, spinners and messages (stderr).</summary>
    public static IAnsiConsole Messages => ErrorConsole;

    /// <summary>A line of data written as it is (no markup, no wrapping): keys, settings, anything a script may copy.</summary>
    public static void Plain(string line) => Console.Out.WriteLine(line);

    /// <summary>A message with Spectre markup, on stderr; plain text when stderr is redirected.</summary>
    public static void Info(string markup)
    {
        if (Console.IsErrorRedirected)
        {
            Console.Error.WriteLine(Markup.Remove(markup));
        }
        else
        {
            ErrorConsole.MarkupLine(markup);
        }
    }

    /// <summary>Tables and other renderables (data, stdout), followed by a line break.</summary>
    public static void Write(Spectre.Console.Rendering.IRenderable renderable)
    {
        AnsiConsole.Write(renderable);
        AnsiConsole.WriteLine();
    }

    /// <summary>A JSON document on stdout (indented, one per call); with <paramref name="compact"/> on one line, for streams of documents.</summary>
    public static void Json(Action<Utf8JsonWriter> write, bool compact = false)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = !compact }))
        {
            write(writer);
        }

        Console.Out.WriteLine(Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
        Console.Out.Flush();
    }

    /// <summary>Redirected output is read by scripts and logs: do not wrap it at 80 columns.</summary>
    public static void Configure()
    {
        if (Console.IsOutputRedirected)
        {
            AnsiConsole.Profile.Width = RedirectedWidth;
        }

        if (Console.IsErrorRedirected)
        {
            ErrorConsole.Profile.Width = RedirectedWidth;
        }
    }

    public static void Warn(string text) => Info($"[yellow]warning:[/] {Markup.Escape(text)}");

    public static void Error(string text) => Console.Error.WriteLine("error: " + text);

    /// <summary>A compact age: 3s, 4m, 2h, 5d.</summary>
    public static string Age(TimeSpan age) => age.TotalSeconds switch
    {
        < 0 => "0s",
        < 120 => $"{(int)age.TotalSeconds}s",
        < 7200 => $"{(int)age.TotalMinutes}m",
        < 172800 => $"{(int)age.TotalHours}h",
        _ => $"{(int)age.TotalDays}d",
    };
}
