using System.Text.Json;
using ServerlessOtlp.Tests.Infrastructure;

using ServerlessOtlp.Functions;

namespace ServerlessOtlp.Tests.Functions;

/// <summary>
/// Reads what the Worker SDK generated for the Functions app (built as a reference of this test
/// project, in the same configuration): the triggers the host will index and the host.json it gets.
/// </summary>
public sealed class FunctionsMetadataTests
{
#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    private static readonly string Output = Path.Combine(RepoRoot.Path, "functions", "ServerlessOtlp.Functions", "bin", Configuration, "net10.0");

    private static Dictionary<string, JsonElement> Functions()
    {
        string file = Path.Combine(Output, "functions.metadata");
        Assert.True(File.Exists(file), $"{file} is missing: the Worker SDK writes it when the functions project builds");
        using var doc = JsonDocument.Parse(File.ReadAllText(file));
        return doc.RootElement.EnumerateArray().ToDictionary(f => f.GetProperty("name").GetString()!, f => f.Clone());
    }

    private static JsonElement Trigger(JsonElement function) =>
        function.GetProperty("bindings").EnumerateArray().Single(b => b.GetProperty("type").GetString()!.EndsWith("Trigger", StringComparison.Ordinal));

    [Theory]
    [InlineData("Dispatch", "timerTrigger", "schedule", "%ServerlessOtlp:Functions:DispatchSchedule%")]
    [InlineData("Maintenance", "timerTrigger", "schedule", "%ServerlessOtlp:Functions:MaintenanceSchedule%")]
    [InlineData("AdminRedrive", "httpTrigger", "route", "admin/deadletters/redrive")]
    [InlineData("Drain", "queueTrigger", "queueName", "drain-jobs")]
    [InlineData("AdminStatus", "httpTrigger", "route", "admin/status")]
    [InlineData("AdminReplay", "httpTrigger", "route", "admin/replay")]
    public void Trigger_types_queue_names_and_schedules_are_as_designed(string name, string type, string property, string value)
    {
        var functions = Functions();
        Assert.True(functions.ContainsKey(name), $"no function {name} in functions.metadata: {string.Join(", ", functions.Keys)}");
        var trigger = Trigger(functions[name]);
        Assert.Equal(type, trigger.GetProperty("type").GetString());
        Assert.Equal(value, trigger.GetProperty(property).GetString());
    }

    [Fact]
    public void The_app_has_exactly_the_designed_functions()
    {
        Assert.Equal(["AdminRedrive", "AdminReplay", "AdminStatus", "Dispatch", "Drain", "Maintenance"], Functions().Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Drain_reads_the_host_storage_and_admin_needs_a_function_key()
    {
        var functions = Functions();
        Assert.Equal("AzureWebJobsStorage", Trigger(functions["Drain"]).GetProperty("connection").GetString());
        foreach (string admin in new[] { "AdminStatus", "AdminReplay", "AdminRedrive" })
        {
            Assert.Equal("Function", Trigger(functions[admin]).GetProperty("authLevel").GetString(), ignoreCase: true);
        }
    }

    [Fact]
    public void The_timer_schedule_settings_have_their_defaults_in_local_settings()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepoRoot.Path, "functions", "ServerlessOtlp.Functions", "local.settings.json")));
        Assert.Equal(FunctionsOptions.DefaultDispatchSchedule, doc.RootElement.GetProperty("Values").GetProperty("ServerlessOtlp__Functions__DispatchSchedule").GetString());
        Assert.Equal(FunctionsOptions.DefaultMaintenanceSchedule, doc.RootElement.GetProperty("Values").GetProperty("ServerlessOtlp__Functions__MaintenanceSchedule").GetString());
    }

    [Fact]
    public void The_output_host_json_sets_the_queue_behaviour_the_drain_depends_on()
    {
        string file = Path.Combine(Output, "host.json");
        Assert.True(File.Exists(file), $"{file} is missing: the project links the repository's host.json");
        using var doc = JsonDocument.Parse(File.ReadAllText(file));
        var queues = doc.RootElement.GetProperty("extensions").GetProperty("queues");
        // Up to batchSize + newBatchThreshold = 8 drains per instance (sharing its memory budget, as the local
        // runner's 8): Flex bills an instance's memory while it executes, so one drain per instance would
        // bill one instance per busy partition.
        Assert.Equal(4, queues.GetProperty("batchSize").GetInt32());
        Assert.Equal(4, queues.GetProperty("newBatchThreshold").GetInt32());
        Assert.Equal("00:00:02", queues.GetProperty("maxPollingInterval").GetString());
        Assert.Equal("none", queues.GetProperty("messageEncoding").GetString());
    }
}
