using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using ServerlessOtlp.Hosting;
using ServerlessOtlp.Log;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Processing;

/// <summary>
/// The one composition the hosts share (<see cref="ServerlessOtlpComposition"/>, <see cref="ProcessingComposition"/>):
/// components from configuration or registered before, the asynchronous start run once and retried after a failure,
/// options validated at start even without a host.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class ProcessingCompositionTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task From_configuration_alone_the_start_opens_the_log_and_creates_every_table_container_and_the_queue()
    {
        var names = AzuriteFixture.UniqueNames();
        var settings = new Dictionary<string, string?>
        {
            ["ServerlessOtlp:Storage:ConnectionString"] = azurite.ConnectionString,
            ["ServerlessOtlp:Log:Kind"] = "blob",
            ["ServerlessOtlp:Log:Name"] = "compose" + Guid.NewGuid().ToString("N")[..8],
            ["ServerlessOtlp:Log:Partitions"] = "3",
        };
        foreach (var (key, value) in AzuriteFixture.NameSettings(names))
        {
            settings[key.Replace("__", ":", StringComparison.Ordinal)] = value;
        }

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        await using var provider = new ServiceCollection().AddServerlessOtlpProcessing(configuration).BuildServiceProvider();

        var services = await provider.GetRequiredService<ProcessingServicesProvider>().GetAsync();

        // A blob log answers its partition count only once opened (it reads meta.json).
        Assert.Equal(3, services.Log.PartitionCount);
        Assert.IsType<BlobLog>(services.Log);
        Assert.Same(provider.GetRequiredService<DrainEngine>(), services.Engine);
        Assert.Same(provider.GetRequiredService<IEventProcessor>(), services.Processor);
        var storage = services.Storage;
        foreach (string table in new[] { names.Checkpoints, names.Leases, names.Nodes, names.Tenants })
        {
            Assert.True(await TableExistsAsync(storage.Tables, table), table);
        }

        foreach (string container in new[] { names.DeadLetterContainer, names.RetryContainer, names.PartitionStateContainer })
        {
            Assert.True((await storage.Blobs.GetBlobContainerClient(container).ExistsAsync()).Value, container);
        }

        Assert.True((await storage.Queues.GetQueueClient(names.DrainJobs).ExistsAsync()).Value);
        Assert.Same(services, await provider.GetRequiredService<ProcessingServicesProvider>().GetAsync());
    }

    [Fact]
    public async Task Components_registered_before_are_used_and_the_storage_settings_they_replace_are_not_required()
    {
        var storage = azurite.IsolatedStorage();
        var log = new MemoryLog(2, "compose-" + Guid.NewGuid().ToString("N")[..8]);
        var tenants = new TenantDirectory(new TenantStore(storage.Tables, storage.Names.Tenants));
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-07T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ServerlessOtlp:Drain:LeaseTtl"] = "00:00:40",
        }).Build();
        await using var provider = new ServiceCollection()
            .AddSingleton(storage)
            .AddSingleton<IPartitionedLog>(log)
            .AddSingleton<ITenantDirectory>(tenants)
            .AddSingleton<TimeProvider>(time)
            .AddServerlessOtlpProcessing(configuration)
            .BuildServiceProvider();

        // No ServerlessOtlp:Storage is configured: the clients registered before stand for it (otlpctl's flags).
        var services = await provider.GetRequiredService<ProcessingServicesProvider>().GetAsync();

        Assert.Same(storage, services.Storage);
        Assert.Same(log, services.Log);
        Assert.Same(tenants, services.Tenants);
        Assert.Same(time, services.Time);
        Assert.Equal(TimeSpan.FromSeconds(40), services.Drain.LeaseTtl);
        Assert.True((await storage.Blobs.GetBlobContainerClient(storage.Names.RetryContainer).ExistsAsync()).Value);
    }

    [Fact]
    public async Task Without_a_host_the_start_still_validates_every_section_and_names_it()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ServerlessOtlp:Log:Kind"] = "kafka",
        }).Build();
        await using var provider = new ServiceCollection()
            .AddServerlessOtlpStorage(configuration)
            .AddServerlessOtlpLog(configuration)
            .BuildServiceProvider();

        // Both sections fail, so the validator throws them together.
        var both = await Assert.ThrowsAsync<AggregateException>(() => provider.StartServerlessOtlpAsync().AsTask());
        Assert.Contains(both.InnerExceptions, e => e.Message.Contains("ServerlessOtlp:Storage: set ConnectionString", StringComparison.Ordinal));
        Assert.Contains(both.InnerExceptions, e => e.Message.Contains("ServerlessOtlp:Log: unknown Kind \"kafka\"", StringComparison.Ordinal));

        var fixedStorage = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ServerlessOtlp:Storage:ConnectionString"] = azurite.ConnectionString,
            ["ServerlessOtlp:Log:Kind"] = "kafka",
        }).Build();
        await using var second = new ServiceCollection().AddServerlessOtlpStorage(fixedStorage).AddServerlessOtlpLog(fixedStorage).BuildServiceProvider();
        var failure = await Assert.ThrowsAsync<OptionsValidationException>(() => second.StartServerlessOtlpAsync().AsTask());
        Assert.Contains("ServerlessOtlp:Log: unknown Kind \"kafka\"", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_appending_host_is_not_stopped_by_settings_only_the_drains_read()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ServerlessOtlp:Storage:ConnectionString"] = azurite.ConnectionString,
            ["ServerlessOtlp:Log:Kind"] = "eventhubs",
            ["ServerlessOtlp:Log:EventHubs:FullyQualifiedNamespace"] = "example.servicebus.windows.net",
            // The drains' live group equal to the replay group: their cursors would cut each other off.
            ["ServerlessOtlp:Log:EventHubs:ConsumerGroup"] = "replay",
        }).Build();
        using var gateway = new ServiceCollection().AddServerlessOtlpStorage(configuration).AddServerlessOtlpLog(configuration, appendOnly: true).BuildServiceProvider();
        using var drains = new ServiceCollection().AddServerlessOtlpStorage(configuration).AddServerlessOtlpLog(configuration).BuildServiceProvider();

        gateway.GetRequiredService<IStartupValidator>().Validate();
        var refused = Assert.Throws<OptionsValidationException>(() => drains.GetRequiredService<IStartupValidator>().Validate());
        Assert.Contains("ServerlessOtlp:Log: EventHubs:ReplayConsumerGroup must differ", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_failed_start_is_not_kept_and_a_finished_one_runs_no_step_again()
    {
        var services = new ServiceCollection().AddServerlessOtlpStorage(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ServerlessOtlp:Storage:ConnectionString"] = azurite.ConnectionString,
        }).Build());
        int first = 0, second = 0;
        services.Startup().Add((_, _) =>
        {
            first++;
            return Task.CompletedTask;
        });
        services.Startup().Add((_, _) => ++second == 1 ? throw new InvalidOperationException("storage is not reachable yet") : Task.CompletedTask);
        await using var provider = services.BuildServiceProvider();

        await Assert.ThrowsAsync<InvalidOperationException>(() => provider.StartServerlessOtlpAsync().AsTask());
        await provider.StartServerlessOtlpAsync();
        await provider.StartServerlessOtlpAsync();

        // Each step is safe to repeat; the retry ran both, the finished start none.
        Assert.Equal(2, first);
        Assert.Equal(2, second);
    }

    private static async Task<bool> TableExistsAsync(Azure.Data.Tables.TableServiceClient tables, string name)
    {
        await foreach (var _ in tables.QueryAsync(t => t.Name == name))
        {
            return true;
        }

        return false;
    }
}
