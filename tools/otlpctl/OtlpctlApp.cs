using System.CommandLine;
using ServerlessOtlp.Cli.Commands;
using ServerlessOtlp.Cli.Connection;
using ServerlessOtlp.Cli.Terminal;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Cli;

/// <summary>The otlpctl command tree (CONTRACTS.md, "otlpctl"); flag names and exit codes are a contract.</summary>
internal static class OtlpctlApp
{
    /// <summary>Stack traces and library debug logs on stderr instead of a one-line error and a log file.</summary>
    public static readonly Option<bool> Verbose = new("--verbose", "-v")
    {
        Description = "Print library debug logs and the details of unexpected errors (stack traces) on stderr",
        Recursive = true,
    };

    /// <summary>True when <c>--verbose</c> was given.</summary>
    public static bool IsVerbose { get; private set; }

    public static RootCommand CreateRootCommand()
    {
        var root = new RootCommand("otlpctl: run ServerlessOtlp locally, manage tenants and their secrets, watch partitions, replay, redrive dead letters, generate load");
        root.Options.Add(Verbose);
        root.Subcommands.Add(DevCommand.Create());
        root.Subcommands.Add(TenantsCommand.Create());
        root.Subcommands.Add(SecretsCommand.Create());
        root.Subcommands.Add(StatusCommand.Create());
        root.Subcommands.Add(ReplayCommand.Create());
        root.Subcommands.Add(DeadLetterCommand.Create());
        root.Subcommands.Add(LoadCommand.Create());
        root.Subcommands.Add(AgentsCommand.Create());
        return root;
    }

    public static async Task<int> RunAsync(string[] args)
    {
        Output.Configure();
        var parse = CreateRootCommand().Parse(args);
        IsVerbose = parse.GetValue(Verbose);
        if (parse.Errors.Count > 0)
        {
            // Usage errors: what was wrong and where to look, on stderr, exit 2 (System.CommandLine's own
            // handler prints the help to stdout and returns 1).
            foreach (var error in parse.Errors)
            {
                Output.Error(error.Message);
            }

            Console.Error.WriteLine($"Run '{CommandPath(parse)} --help' for usage.");
            return ExitCodes.Usage;
        }

        try
        {
            // Signals are handled by the commands (ShutdownSignal), so that they can stop cleanly.
            return await parse.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false });
        }
        catch (CliException ex)
        {
            Output.Error(ex.Message);
            return ex.ExitCode;
        }
        catch (TenantConfigException ex)
        {
            foreach (var error in ex.Errors)
            {
                Console.Error.WriteLine(error.ToString());
            }

            return ExitCodes.Usage;
        }
        catch (Exception ex) when (StorageErrors.Describe(ex) is { } message)
        {
            Output.Error(message);
            return ExitCodes.Failure;
        }
        catch (OperationCanceledException) when (ShutdownSignal.AnyReceived)
        {
            return ExitCodes.Interrupted;
        }
        catch (Exception ex)
        {
            return Unexpected(ex);
        }
    }

    /// <summary>A bug or an error nobody foresaw: one line, the details in a file (or here with --verbose), exit 1.</summary>
    private static int Unexpected(Exception ex)
    {
        string summary = $"{ex.GetType().Name}: {ex.Message.Split('\n')[0].Trim()}";
        if (IsVerbose)
        {
            Output.Error("unexpected " + ex);
            return ExitCodes.Failure;
        }

        string? path = null;
        try
        {
            string dir = Path.Combine(Path.GetTempPath(), "otlpctl");
            Directory.CreateDirectory(dir);
            path = Path.Combine(dir, $"otlpctl-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Environment.ProcessId}.log");
            File.WriteAllText(path, $"otlpctl {string.Join(' ', Environment.GetCommandLineArgs().Skip(1))}\n{DateTimeOffset.UtcNow:O}\n\n{ex}\n");
        }
        catch (IOException)
        {
            path = null;
        }
        catch (UnauthorizedAccessException)
        {
            path = null;
        }

        Output.Error($"unexpected {summary} ({(path is null ? "run again with --verbose for details" : $"details in {path}; --verbose prints them here")})");
        return ExitCodes.Failure;
    }

    private static string CommandPath(ParseResult parse)
    {
        var names = new List<string>();
        for (var result = parse.CommandResult; result != null; result = result.Parent as System.CommandLine.Parsing.CommandResult)
        {
            names.Add(result.Command is RootCommand ? "otlpctl" : result.Command.Name);
        }

        names.Reverse();
        return string.Join(' ', names);
    }
}
