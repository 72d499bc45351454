using Spectre.Console;

namespace ServerlessOtlp.Cli.Terminal;

/// <summary>How to talk to the user: live rendering on a terminal, plain lines when redirected.</summary>
public static class Output
{
    /// <summary>True when stdout is a terminal: progress bars, live status lines and colours are used.</summary>
    public static bool Interactive => !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;

    /// <summary>A line written as it is (no markup, no wrapping): keys, env vars, anything a script may copy.</summary>
    public static void Plain(string line) => Console.Out.WriteLine(line);

    /// <summary>A line with Spectre markup; plain text (no colour, no wrapping) when stdout is redirected.</summary>
    public static void Info(string markup)
    {
        if (Console.IsOutputRedirected)
        {
            Console.Out.WriteLine(Markup.Remove(markup));
        }
        else
        {
            AnsiConsole.MarkupLine(markup);
        }
    }

    /// <summary>Tables and other renderables, followed by a line break.</summary>
    public static void Write(Spectre.Console.Rendering.IRenderable renderable)
    {
        AnsiConsole.Write(renderable);
        AnsiConsole.WriteLine();
    }

    /// <summary>Redirected output is read by scripts and logs: do not wrap it at 80 columns.</summary>
    public static void Configure()
    {
        if (Console.IsOutputRedirected)
        {
            AnsiConsole.Profile.Width = RedirectedWidth;
        }
    }

    // Wide enough for the status and dead-letter tables.
    private const int RedirectedWidth = 240;

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
