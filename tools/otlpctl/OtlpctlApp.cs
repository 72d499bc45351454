using System.CommandLine;
using ServerlessOtlp.Cli.Commands;
using ServerlessOtlp.Cli.Connection;
using ServerlessOtlp.Cli.Terminal;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Cli;

/// <summary>The otlpctl command tree (CONTRACTS.md, "otlpctl"); flag names are a contract.</summary>
public static class OtlpctlApp
{
    public static RootCommand CreateRootCommand()
    {
        var root = new RootCommand("otlpctl: run ServerlessOtlp locally, manage tenants and their secrets, watch partitions, replay, redrive dead letters, generate load");
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
        catch (OperationCanceledException)
        {
            return ExitCodes.Ok;
        }
    }
}
