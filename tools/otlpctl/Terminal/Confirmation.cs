using System.CommandLine;

namespace ServerlessOtlp.Cli.Terminal;

/// <summary>
/// <c>--yes</c> and <c>--dry-run</c> for commands that change or delete what cannot be had back
/// (<c>replay --all</c>, <c>tenants remove</c>, <c>deadletter redrive</c>): asked on a terminal,
/// refused without <c>--yes</c> when nobody can answer (stdin redirected, as in scripts and CI).
/// </summary>
internal sealed class Confirmation
{
    public Option<bool> Yes { get; } = new("--yes", "-y") { Description = "Do it without asking (required when stdin is not a terminal)" };

    public Option<bool> DryRun { get; } = new("--dry-run") { Description = "Print what would be done; change nothing" };

    public Confirmation AddTo(Command command)
    {
        command.Options.Add(Yes);
        command.Options.Add(DryRun);
        return this;
    }

    public bool IsDryRun(ParseResult parse) => parse.GetValue(DryRun);

    /// <summary>Returns when the user agreed (or gave <c>--yes</c>); throws <see cref="CliException"/> otherwise.</summary>
    public void Require(ParseResult parse, string what)
    {
        if (parse.GetValue(Yes))
        {
            return;
        }

        if (Console.IsInputRedirected)
        {
            throw new CliException($"{what}: give --yes to confirm (stdin is not a terminal), or --dry-run to see what would be done", ExitCodes.Usage);
        }

        Console.Error.Write($"{what}. Continue? [y/N] ");
        string? answer = Console.ReadLine();
        if (answer is null || !answer.Trim().Equals("y", StringComparison.OrdinalIgnoreCase) && !answer.Trim().Equals("yes", StringComparison.OrdinalIgnoreCase))
        {
            throw new CliException("not confirmed; nothing was changed", ExitCodes.Failure);
        }
    }
}
