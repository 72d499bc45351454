using System.Net;
using System.Text.Json;
using Azure.Storage.Queues;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using ServerlessOtlp.Export;
using ServerlessOtlp.Export.Files;
using ServerlessOtlp.Functions;
using ServerlessOtlp.Hosting;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.EventHubs;
using ServerlessOtlp.Tests.Infrastructure;
using ServerlessOtlp.Tests.Processing;
using FunctionsProgram = ServerlessOtlp.Functions.Program;

namespace ServerlessOtlp.Tests.Functions;

/// <summary>
/// The Functions app as deployed: the worker host built (not run: a running worker looks for the Functions
/// host) by <see cref="FunctionsProgram.CreateBuilder"/> with the app settings the Bicep sets, pointed at Azurite and the
/// local Event Hubs endpoint; the functions are created from that host's services as the worker's activator does.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class FunctionsAppHostTests(AzuriteFixture azurite)
{
    /// <summary>
    /// The ServerlessOtlp and schedule settings of infra/bicep/modules/functions.bicep, by name (the infra tests
    /// check that the Bicep sets exactly these), with the values a deployment gets.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> BicepAppSettings = new Dictionary<string, string>
    {
        ["ServerlessOtlp__Storage__AccountName"] = "stserverlessotlp",
        ["ServerlessOtlp__Log__Kind"] = "eventhubs",
        ["ServerlessOtlp__Log__EventHubs__FullyQualifiedNamespace"] = "evhns-serverlessotlp.servicebus.windows.net",
        ["ServerlessOtlp__Log__EventHubs__EventHubName"] = "otlp",
        ["ServerlessOtlp__Log__EventHubs__ConsumerGroup"] = "functions",
        ["ServerlessOtlp__Log__EventHubs__ReplayConsumerGroup"] = "replay",
        ["ServerlessOtlp__KeyVault__Uri"] = "https://kv-serverlessotlp.vault.azure.net/",
        ["ServerlessOtlp__Functions__DispatchSchedule"] = "0 */10 * * * *",
        ["ServerlessOtlp__Functions__MaintenanceSchedule"] = "0 5-59/10 * * * *",
    };

    [Fact]
    public async Task The_worker_host_built_with_the_Bicep_app_settings_runs_Dispatch_Drain_Maintenance_and_admin_status_on_Event_Hubs()
    {
        await using var hub = await EmulatedHub.StartAsync(partitions: 2);
        // The app's own metrics go by OTLP into a gateway (as an operator would point them at this pipeline).
        await using var telemetry = await Gateway.TestGateway.StartAsync();
        var names = AzuriteFixture.UniqueNames();
        string fileRoot = Directory.CreateTempSubdirectory("functions-app-").FullName;
        string outDir = Path.Combine(fileRoot, TenantNamespace.Of("acme"), "out");
        var settings = new Dictionary<string, string>(BicepAppSettings)
        {
            // Where the test points the deployed settings: Azurite instead of the account, the local endpoint instead of the namespace.
            ["ServerlessOtlp__Storage__ConnectionString"] = azurite.ConnectionString,
            ["ServerlessOtlp__Log__EventHubs__ConnectionString"] = hub.ConnectionString,
            ["ServerlessOtlp__Log__EventHubs__EventHubName"] = hub.Options.EventHubName,
            ["ServerlessOtlp__RetryStore__MaxAge"] = "00:01:00",
            ["ServerlessOtlp__Export__InlineBudget"] = "00:00:01",
            ["ServerlessOtlp__Export__FileRoot"] = fileRoot,
            ["ServerlessOtlp__Drain__IdleTimeout"] = "00:00:00.300",
            ["ServerlessOtlp__Drain__PollInterval"] = "00:00:00.050",
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = telemetry.HttpUri.ToString(),
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_EXPORTER_OTLP_HEADERS"] = "x-api-key=" + Gateway.TestGateway.AcmeKey,
        };
        foreach (var (key, value) in AzuriteFixture.NameSettings(names))
        {
            settings[key] = value;
        }

        using var host = FunctionsProgram.CreateBuilder(Arguments(settings)).Build();
        host.Services.GetRequiredService<IStartupValidator>().Validate();
        var meters = host.Services.GetRequiredService<MeterProvider>(); // listening from here on
        Assert.Equal(TimeSpan.FromMinutes(1), host.Services.GetRequiredService<IOptions<RetryStoreOptions>>().Value.MaxAge);
        Assert.Equal(TimeSpan.FromSeconds(1), host.Services.GetRequiredService<IOptions<ExportResilienceOptions>>().Value.InlineBudget);

        var storage = new StorageClients(new StorageOptions { ConnectionString = azurite.ConnectionString, Names = names });
        var tenants = new TenantStore(storage.Tables, names.Tenants, storage.Blobs.GetBlobContainerClient(names.TenantContainer));
        await tenants.EnsureCreatedAsync();
        await tenants.ApplyAsync(new TenantFile
        {
            Tenants = [new TenantConfig { Id = "acme", Destinations = [new DestinationConfig { Name = "out", Kind = FileDestination.KindName, Signals = [Signal.Traces], Settings = new FileSettings { Path = "out" } }] }],
        });

        await using (var writer = await hub.OpenLogAsync())
        {
            await writer.AppendAsync(1, Enumerable.Range(0, 5).Select(n => DrainTestContext.Event(DrainTestContext.SpanBody(n), "acme")).ToList());
        }

        // Dispatch enqueues a job on the drain-jobs queue; Drain takes it as the queue trigger would.
        var dispatch = ActivatorUtilities.CreateInstance<DispatchFunction>(host.Services);
        Assert.Equal([1], await dispatch.DispatchAsync());
        var queue = new QueueClient(azurite.ConnectionString, names.DrainJobs, new QueueClientOptions { MessageEncoding = QueueMessageEncoding.None });
        var message = (await queue.ReceiveMessageAsync()).Value;
        Assert.NotNull(message);
        var result = await ActivatorUtilities.CreateInstance<DrainFunction>(host.Services).DrainAsync(message.Body.ToString());
        Assert.Equal((DrainEnd.Idle, 5L), (result!.End, result.Events));
        string written = File.ReadAllText(Path.Combine(outDir, "traces.jsonl"));
        Assert.All(Enumerable.Range(0, 5), n => Assert.Contains($"\"span-{n}\"", written, StringComparison.Ordinal));

        // The checkpoint is keyed by the live consumer group Bicep names, and fenced by the lease.
        var runtime = await host.Services.GetRequiredService<ProcessingHost>().GetAsync();
        Assert.Equal("functions", runtime.Services.Drain.ConsumerGroup);
        Assert.Equal(5, (await runtime.Services.Checkpoints.ReadAsync(runtime.Services.Log.Name, "functions", 1)).Position);

        // Maintenance's retry store applies ServerlessOtlp:RetryStore:MaxAge: a batch parked two minutes ago is dead-lettered, not re-sent.
        await runtime.Services.RetryStore.WriteAsync("acme", "out", Signal.Traces, DrainTestContext.SpanBody(99), DateTimeOffset.UtcNow.AddMinutes(-2), 1, "HTTP 503");
        Assert.Equal(1, (await ActivatorUtilities.CreateInstance<MaintenanceFunction>(host.Services).MaintainAsync()).RetriesSettled);
        var letter = Assert.Single(await runtime.Services.DeadLetters.ListAsync("acme"));
        Assert.Contains("undelivered after", letter.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain("\"span-99\"", File.ReadAllText(Path.Combine(outDir, "traces.jsonl")), StringComparison.Ordinal);

        // Admin status, as its HTTP trigger answers.
        var admin = ActivatorUtilities.CreateInstance<AdminFunctions>(host.Services);
        var response = (FakeHttpResponse)await admin.StatusAsync(new FakeHttpRequest("GET", "http://localhost/api/admin/status"), default);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var status = JsonDocument.Parse(response.ReadBody());
        Assert.Equal("functions", status.RootElement.GetProperty("consumerGroup").GetString());
        Assert.StartsWith("eventhubs:", status.RootElement.GetProperty("log").GetString(), StringComparison.Ordinal);
        var partitions = status.RootElement.GetProperty("partitions").EnumerateArray().ToList();
        Assert.Equal(2, partitions.Count);
        Assert.Equal((5L, 0L), (partitions[1].GetProperty("end").GetInt64(), partitions[1].GetProperty("lag").GetInt64()));
        Assert.Contains(status.RootElement.GetProperty("nodes").EnumerateArray(), n => n.GetProperty("role").GetString() == NodeRoles.Functions);
        Assert.Equal(1, status.RootElement.GetProperty("deadLetters").GetProperty("acme").GetInt32());

        // The app's meters reached the OTLP endpoint: the project's (its storage transactions) and the runtime's.
        Assert.True(meters.ForceFlush(15_000), "the metrics export did not finish");
        var exported = telemetry.Events(Signal.Metrics)
            .SelectMany(e => OpenTelemetry.Proto.Collector.Metrics.V1.ExportMetricsServiceRequest.Parser.ParseFrom(e.Body).ResourceMetrics)
            .ToList();
        Assert.Contains(exported, r => r.Resource.Attributes.Any(a => a.Key == "service.name" && a.Value.StringValue == "serverlessotlp-functions"));
        var metricNames = exported.SelectMany(r => r.ScopeMetrics).SelectMany(m => m.Metrics).Select(m => m.Name).ToHashSet();
        Assert.Contains("otlp_storage_transactions", metricNames);
        Assert.Contains("dotnet.process.memory.working_set", metricNames); // the runtime's own meter

        await runtime.Services.DeadLetters.DeleteAsync(letter.Id);
        Directory.Delete(fileRoot, recursive: true);
    }

    [Fact]
    public void Settings_that_the_options_refuse_fail_the_host_at_start_with_the_section_named()
    {
        var settings = new Dictionary<string, string>(BicepAppSettings)
        {
            ["ServerlessOtlp__RetryStore__MaxAge"] = "-00:00:01",
            ["ServerlessOtlp__Export__InlineBudget"] = "00:01:00",
            ["ServerlessOtlp__Log__EventHubs__ReplayConsumerGroup"] = "functions",
            ["ServerlessOtlp__Health__ResponseTimeout"] = "00:00:00",
            ["ServerlessOtlp__Functions__RetryStorePeriod"] = "00:00:00",
        };
        using var host = FunctionsProgram.CreateBuilder(Arguments(settings)).Build();

        var failure = Assert.ThrowsAny<Exception>(() => host.Services.GetRequiredService<IStartupValidator>().Validate());
        string message = failure.ToString();
        Assert.Contains("ServerlessOtlp:RetryStore: MaxAge must be positive", message, StringComparison.Ordinal);
        Assert.Contains("ServerlessOtlp:Export: InlineBudget", message, StringComparison.Ordinal);
        Assert.Contains("ReplayConsumerGroup must differ", message, StringComparison.Ordinal);
        Assert.Contains("ServerlessOtlp:Health: ResponseTimeout must be positive", message, StringComparison.Ordinal);
        Assert.Contains("HealthSweepPeriod and RetryStorePeriod must be positive", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_storage_or_an_Event_Hubs_namespace_the_host_fails_at_start()
    {
        using var host = FunctionsProgram.CreateBuilder(Arguments(new Dictionary<string, string> { ["ServerlessOtlp__Log__Kind"] = "eventhubs" })).Build();
        var message = Assert.ThrowsAny<Exception>(() => host.Services.GetRequiredService<IStartupValidator>().Validate()).ToString();
        Assert.Contains("ServerlessOtlp:Storage: set ConnectionString (Azurite) or AccountName", message, StringComparison.Ordinal);
        Assert.Contains("ServerlessOtlp:Log: Kind eventhubs needs EventHubs:FullyQualifiedNamespace", message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_processing_composition_binds_every_section_the_README_documents()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ServerlessOtlp:Storage:ConnectionString"] = "UseDevelopmentStorage=true",
            ["ServerlessOtlp:Drain:LeaseTtl"] = "00:00:40",
            ["ServerlessOtlp:Health:DeadAfter"] = "00:01:00",
            ["ServerlessOtlp:Export:MaxConcurrency"] = "3",
            ["ServerlessOtlp:RetryStore:MaxAge"] = "02:00:00",
            ["ServerlessOtlp:Log:EventHubs:PrefetchCount"] = "20",
        }).Build();
        using var provider = new ServiceCollection().AddServerlessOtlpProcessing(configuration).BuildServiceProvider();
        provider.GetRequiredService<IStartupValidator>().Validate();

        Assert.Equal(TimeSpan.FromSeconds(40), provider.GetRequiredService<IOptions<DrainOptions>>().Value.LeaseTtl);
        Assert.Equal(TimeSpan.FromMinutes(1), provider.GetRequiredService<IOptions<HealthOptions>>().Value.DeadAfter);
        Assert.Equal(3, provider.GetRequiredService<IOptions<ExportResilienceOptions>>().Value.MaxConcurrency);
        Assert.Equal(TimeSpan.FromHours(2), provider.GetRequiredService<IOptions<RetryStoreOptions>>().Value.MaxAge);
        Assert.Equal(20, provider.GetRequiredService<IOptions<LogOptions>>().Value.EventHubs.PrefetchCount);
    }

    /// <summary>App settings as the worker reads them: <c>__</c> is the configuration path separator, as for environment variables.</summary>
    private static string[] Arguments(IReadOnlyDictionary<string, string> settings) =>
        settings.Select(s => $"--{s.Key.Replace("__", ":", StringComparison.Ordinal)}={s.Value}").ToArray();
}
