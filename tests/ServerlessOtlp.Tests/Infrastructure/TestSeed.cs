using Xunit.Abstractions;

namespace ServerlessOtlp.Tests.Infrastructure;

/// <summary>
/// Seeds for tests that draw random inputs or timings: a new one per run, printed so that a
/// failure can be replayed with <c>SERVERLESSOTLP_SEED=N</c>.
/// </summary>
public static class TestSeed
{
    public const string Variable = "SERVERLESSOTLP_SEED";

    public static int Pick(ITestOutputHelper output)
    {
        int seed = int.TryParse(Environment.GetEnvironmentVariable(Variable), out int s) ? s : Random.Shared.Next();
        output.WriteLine($"seed {seed} ({Variable}={seed} replays it)");
        return seed;
    }
}
