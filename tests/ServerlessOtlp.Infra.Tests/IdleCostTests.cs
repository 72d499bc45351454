using NCrontab;
using Xunit.Abstractions;

namespace ServerlessOtlp.Infra.Tests;

/// <summary>
/// What an idle month of the deployed Function App executes, from what is deployed: the timer triggers
/// of the published <c>functions.metadata</c>, their schedules resolved through the compiled Bicep's app
/// settings, and the instance memory of the compiled Bicep. With no telemetry nothing else runs: drains
/// are pushed by the gateway, and the gateway scales to zero. The billing model is Flex Consumption's
/// on-demand meter as docs/cost.md states it: each execution billed at least one second of instance memory.
/// </summary>
public sealed class IdleCostTests(ITestOutputHelper output)
{
    /// <summary>Flex Consumption on-demand free grant, per subscription and month (docs/cost.md: remembered, not checked here).</summary>
    internal const double FreeGigabyteSeconds = 100_000;

    /// <summary>Executions in the same grant.</summary>
    internal const long FreeExecutions = 250_000;

    private const double BilledSecondsPerExecution = 1;

    private static readonly CompiledTemplate Template = CompiledTemplate.Instance;
    private static readonly (CompiledTemplate.Deployment Deployment, JsonObject Resource) Site =
        Assert.Single(Template.Resources("Microsoft.Web/sites"));

    private static readonly string Metadata = Path.Combine(CompiledTemplate.RepositoryRoot, "artifacts", "functions-publish", "functions.metadata");

    [SkippableFact]
    public void An_idle_month_of_the_deployed_timers_stays_inside_the_free_grant()
    {
        Skip.IfNot(File.Exists(Metadata), $"no {Metadata}: tools/test.sh publishes the Functions app before the tests");
        var timers = DeployedTimers();
        Assert.Equal(["Dispatch", "Maintenance"], timers.Keys.Order(StringComparer.Ordinal));

        int memoryMb = int.Parse(Site.Deployment.ResolveString(Site.Resource["properties"]!["functionAppConfig"]!["scaleAndConcurrency"]!["instanceMemoryMB"])!, System.Globalization.CultureInfo.InvariantCulture);
        var month = IdleMonth(timers.Values, memoryMb);
        foreach (var (name, schedule) in timers)
        {
            output.WriteLine($"{name}: {schedule} → {ExecutionsIn30Days(schedule):N0} executions");
        }

        output.WriteLine($"idle month at {memoryMb} MB: {month.Executions:N0} executions, {month.GigabyteSeconds:N0} GB-s");
        Assert.True(month.Executions <= FreeExecutions, $"{month.Executions:N0} executions an idle month, the grant is {FreeExecutions:N0}");
        Assert.True(month.GigabyteSeconds <= FreeGigabyteSeconds, $"{month.GigabyteSeconds:N0} GB-s an idle month, the grant is {FreeGigabyteSeconds:N0}");

        // Always-ready instances bill a baseline while idle: none unless a deployment asks.
        Assert.Equal("[]", Template.Root.Template["parameters"]!["functionsAlwaysReady"]!["defaultValue"]!.ToJsonString());
    }

    /// <summary>The same count for the schedules before push-started drains: the check can fail.</summary>
    [Fact]
    public void The_timers_of_before_push_started_drains_leave_the_grant()
    {
        var month = IdleMonth(["*/5 * * * * *", "*/10 * * * * *", "*/10 * * * * *", "0 0 * * * *"], 2048);
        Assert.Equal(1_037_520, month.Executions);
        Assert.True(month.GigabyteSeconds > FreeGigabyteSeconds);
    }

    internal static (long Executions, double GigabyteSeconds) IdleMonth(IEnumerable<string> schedules, int memoryMb)
    {
        long executions = schedules.Sum(ExecutionsIn30Days);
        return (executions, executions * BilledSecondsPerExecution * memoryMb / 1024.0);
    }

    internal static long ExecutionsIn30Days(string schedule)
    {
        var cron = CrontabSchedule.Parse(schedule, new CrontabSchedule.ParseOptions { IncludingSeconds = schedule.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length == 6 });
        var start = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        return cron.GetNextOccurrences(start.AddTicks(-1), start.AddDays(30)).LongCount();
    }

    /// <summary>Timer functions of the package with their schedules, %setting% references resolved from the Bicep's app settings.</summary>
    private static Dictionary<string, string> DeployedTimers()
    {
        var settings = Site.Resource["properties"]!["siteConfig"]!["appSettings"]!.AsArray()
            .ToDictionary(s => (string)s!["name"]!, s => Site.Deployment.ResolveString(s!["value"]));
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var function in JsonNode.Parse(File.ReadAllText(Metadata))!.AsArray())
        {
            foreach (var binding in function!["bindings"]!.AsArray())
            {
                if ((string?)binding!["type"] != "timerTrigger")
                {
                    continue;
                }

                string schedule = (string)binding["schedule"]!;
                if (schedule.StartsWith('%') && schedule.EndsWith('%'))
                {
                    string setting = schedule.Trim('%').Replace(":", "__", StringComparison.Ordinal);
                    Assert.True(settings.TryGetValue(setting, out var value) && value is not null, $"the Bicep does not set {setting}, which {function["name"]}'s schedule names");
                    schedule = value!;
                }

                result[(string)function["name"]!] = schedule;
            }
        }

        return result;
    }
}
