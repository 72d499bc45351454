using System.CommandLine;
using Azure.Storage.Blobs;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Logging;
using ServerlessOtlp.Hosting;
using ServerlessOtlp.Log;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Cli.Connection;

/// <summary>
/// The flags every command that touches storage or the log shares (<c>--storage</c>,
/// <c>--storage-account</c>, <c>--log</c>, <c>--partitions</c>, <c>--event-hubs-namespace</c>), and
/// what they build: storage clients, the opened log, the tenant store, the processing services.
/// Each flag may come from the environment instead (<see cref="Environment"/>), so that connection
/// strings with keys stay off command lines; a flag wins over the environment.
/// </summary>
internal sealed class StorageSelection
{
    /// <summary>The environment variables read when the flags are absent, in order of preference.</summary>
    internal static class Environment
    {
        public const string Storage = "OTLPCTL_STORAGE";
        public const string StorageAccount = "OTLPCTL_STORAGE_ACCOUNT";

        /// <summary>The names the Azure CLI and SDK samples use, read after ours.</summary>
        public const string AzureStorageConnectionString = "AZURE_STORAGE_CONNECTION_STRING";
        public const string AzureStorageAccount = "AZURE_STORAGE_ACCOUNT";

        public const string Log = "OTLPCTL_LOG";
        public const string EventHubsNamespace = "OTLPCTL_EVENT_HUBS_NAMESPACE";
        public const string EventHubsConnectionString = "OTLPCTL_EVENT_HUBS_CONNECTION_STRING";

        internal static string? Get(string name) =>
            System.Environment.GetEnvironmentVariable(name) is { Length: > 0 } value ? value : null;
    }

    public static readonly string[] LogKinds = ["blob", "eventhubs", "memory"];

    public Option<string?> Storage { get; } = new("--storage")
    {
        Description = "Storage connection string (env OTLPCTL_STORAGE or AZURE_STORAGE_CONNECTION_STRING; default: Azurite's development storage, UseDevelopmentStorage=true)",
    };

    public Option<string?> StorageAccount { get; } = new("--storage-account")
    {
        Description = "Azure storage account name, reached with DefaultAzureCredential (az login, managed identity, …) (env OTLPCTL_STORAGE_ACCOUNT or AZURE_STORAGE_ACCOUNT)",
    };

    public Option<string?> EventHubsNamespace { get; } = new("--event-hubs-namespace")
    {
        Description = "Event Hubs namespace NAME (NAME.servicebus.windows.net) for --log eventhubs, with DefaultAzureCredential (env OTLPCTL_EVENT_HUBS_NAMESPACE)",
    };

    public Option<string?> EventHubsConnectionString { get; } = new("--event-hubs-connection-string")
    {
        Description = "Event Hubs connection string for --log eventhubs (the official emulator, the tests' local endpoint, or a namespace with a key); its EntityPath names the hub (env OTLPCTL_EVENT_HUBS_CONNECTION_STRING)",
    };

    public Option<string> LogKind { get; } = new("--log")
    {
        Description = "The partitioned log: blob (on the storage), eventhubs or memory (env OTLPCTL_LOG)",
        DefaultValueFactory = _ => "blob",
    };

    public Option<int> Partitions { get; } = new("--partitions")
    {
        Description = "Partitions of a new blob log (an existing log keeps its recorded count)",
        DefaultValueFactory = _ => 8,
    };

    public Option<long> MemoryBytesPerSecond { get; } = new("--memory-log-bytes-per-second")
    {
        Description = "With --log memory: ingress per partition in bytes/s (default 0 = unlimited), to benchmark overload",
        DefaultValueFactory = _ => 0,
    };

    /// <summary>The storage last opened by a command, for error messages.</summary>
    internal static string? CurrentDescription { get; private set; }

    internal static bool CurrentIsAzurite { get; private set; } = true;

    public StorageSelection AddTo(Command command, bool withLog)
    {
        command.Options.Add(Storage);
        command.Options.Add(StorageAccount);
        if (withLog)
        {
            LogKind.AcceptOnlyFromAmong(LogKinds);
            command.Options.Add(LogKind);
            command.Options.Add(Partitions);
            command.Options.Add(MemoryBytesPerSecond);
            command.Options.Add(EventHubsNamespace);
            command.Options.Add(EventHubsConnectionString);
        }

        return this;
    }

    /// <summary>True when the user named a storage, by flag or environment (so <c>dev</c> must not start Azurite).</summary>
    public bool IsExplicit(ParseResult parse) => StorageFrom(parse).Source is not null;

    /// <summary>The storage named by the flags, else by <see cref="Environment"/>; <c>Source</c> says which (null: none).</summary>
    public (string? Connection, string? Account, string? Source) StorageFrom(ParseResult parse)
    {
        string? connection = parse.GetValue(Storage), account = parse.GetValue(StorageAccount);
        if (!string.IsNullOrWhiteSpace(connection) || !string.IsNullOrWhiteSpace(account))
        {
            return (connection, account, "--storage / --storage-account");
        }

        foreach (var (connectionVariable, accountVariable) in new[]
                 {
                     (Environment.Storage, Environment.StorageAccount),
                     (Environment.AzureStorageConnectionString, Environment.AzureStorageAccount),
                 })
        {
            connection = Environment.Get(connectionVariable);
            account = Environment.Get(accountVariable);
            if (connection is not null || account is not null)
            {
                return (connection, account, $"{connectionVariable} / {accountVariable}");
            }
        }

        return (null, null, null);
    }

    public StorageOptions StorageOptionsFrom(ParseResult parse)
    {
        var (connection, account, source) = StorageFrom(parse);
        if (!string.IsNullOrWhiteSpace(connection) && !string.IsNullOrWhiteSpace(account))
        {
            throw new Terminal.CliException($"give either a connection string or an account name, not both ({source})", Terminal.ExitCodes.Usage);
        }

        // Table, queue and container names as the Functions app and the gateway read them (ServerlessOtlp__Storage__Names__*).
        var names = new StorageNames();
        new ConfigurationBuilder().AddEnvironmentVariables().Build().GetSection(StorageOptions.Section + ":Names").Bind(names);
        return new StorageOptions
        {
            ConnectionString = string.IsNullOrWhiteSpace(account) ? (string.IsNullOrWhiteSpace(connection) ? StorageOptions.AzuriteDefault : connection) : null,
            AccountName = string.IsNullOrWhiteSpace(account) ? null : account,
            Names = names,
        };
    }

    public StorageClients CreateStorage(ParseResult parse)
    {
        var options = StorageOptionsFrom(parse);
        StorageClients clients;
        try
        {
            clients = new StorageClients(options);
        }
        catch (FormatException ex)
        {
            throw new Terminal.CliException($"the storage connection string ({StorageFrom(parse).Source}) is not valid: {ex.Message}", Terminal.ExitCodes.Usage, ex);
        }

        CurrentDescription = clients.Description;
        CurrentIsAzurite = options.AccountName is null;
        return clients;
    }

    public LogOptions LogOptionsFrom(ParseResult parse)
    {
        // The flag, else OTLPCTL_LOG, else its default (blob).
        string kind = parse.GetResult(LogKind) is { Implicit: false } || Environment.Get(Environment.Log) is not { } fromEnvironment
            ? parse.GetValue(LogKind) ?? "blob"
            : fromEnvironment;
        if (!LogKinds.Contains(kind))
        {
            throw new Terminal.CliException($"{Environment.Log}={kind}: expected one of {string.Join(", ", LogKinds)}", Terminal.ExitCodes.Usage);
        }

        var options = new LogOptions { Kind = kind, Partitions = parse.GetValue(Partitions), MemoryBytesPerSecond = parse.GetValue(MemoryBytesPerSecond) };
        if (options.Partitions is < 1 or > 1024)
        {
            throw new Terminal.CliException("--partitions must be between 1 and 1024", Terminal.ExitCodes.Usage);
        }

        if (options.MemoryBytesPerSecond < 0 || (options.MemoryBytesPerSecond > 0 && kind != "memory"))
        {
            throw new Terminal.CliException("--memory-log-bytes-per-second must be positive and needs --log memory", Terminal.ExitCodes.Usage);
        }

        if (kind == "eventhubs")
        {
            string? ns = parse.GetValue(EventHubsNamespace);
            string? connection = parse.GetValue(EventHubsConnectionString);
            if (string.IsNullOrWhiteSpace(ns) && string.IsNullOrWhiteSpace(connection))
            {
                ns = Environment.Get(Environment.EventHubsNamespace);
                connection = Environment.Get(Environment.EventHubsConnectionString);
            }

            if (string.IsNullOrWhiteSpace(ns) == string.IsNullOrWhiteSpace(connection))
            {
                throw new Terminal.CliException("--log eventhubs needs either --event-hubs-namespace NAME (NAME.servicebus.windows.net, with DefaultAzureCredential) or --event-hubs-connection-string CS", Terminal.ExitCodes.Usage);
            }

            // The hub and consumer groups as the Functions app names them (ServerlessOtlp__Log__EventHubs__ConsumerGroup=functions, …),
            // so otlpctl drains and replays in the groups a deployment uses; the flag names the namespace.
            new ConfigurationBuilder().AddEnvironmentVariables().Build().GetSection("ServerlessOtlp:Log:EventHubs").Bind(options.EventHubs);
            if (!string.IsNullOrWhiteSpace(connection))
            {
                try
                {
                    // A connection string's EntityPath must name the hub the clients are given.
                    string? entity = Azure.Messaging.EventHubs.EventHubsConnectionStringProperties.Parse(connection).EventHubName;
                    options.EventHubs.EventHubName = string.IsNullOrEmpty(entity) ? options.EventHubs.EventHubName : entity;
                }
                catch (FormatException ex)
                {
                    throw new Terminal.CliException($"--event-hubs-connection-string is not an Event Hubs connection string: {ex.Message}", Terminal.ExitCodes.Usage, ex);
                }

                options.EventHubs.ConnectionString = connection;
                options.EventHubs.FullyQualifiedNamespace = null;
            }
            else
            {
                options.EventHubs.FullyQualifiedNamespace = ns!.Contains('.', StringComparison.Ordinal) ? ns : ns + ".servicebus.windows.net";
            }

            if (ServerlessOtlpComposition.LogProblem(options) is { } problem)
            {
                throw new Terminal.CliException($"ServerlessOtlp__Log__*: {problem}", Terminal.ExitCodes.Usage);
            }
        }

        return options;
    }

    /// <summary>Creates and opens the log the flags name.</summary>
    public async Task<IPartitionedLog> OpenLogAsync(ParseResult parse, StorageClients storage, ILoggerFactory loggers, CancellationToken cancellationToken, bool drainsInProcess = false)
    {
        var options = LogOptionsFrom(parse);
        var log = PartitionedLogFactory.Create(options, storage, loggers, drainsInProcess);
        await log.OpenAsync(cancellationToken);
        return log;
    }

    /// <summary>The tenant store, digesting keys with the pepper the gateway uses (<c>ServerlessOtlp__Tenants__KeyPeppers__N</c>).</summary>
    public static TenantStore CreateTenantStore(StorageClients storage) =>
        new(storage.Tables, storage.Names.Tenants, TenantBlobs(storage), keys: ApiKeyHasher.FromConfiguration(new ConfigurationBuilder().AddEnvironmentVariables().Build()));

    public static BlobContainerClient TenantBlobs(StorageClients storage) =>
        storage.Blobs.GetBlobContainerClient(storage.Names.TenantContainer);

    /// <summary>
    /// True for Azurite's development storage (what <c>dev</c> uses): otlpctl then exports and applies
    /// with local defaults, since it works on a developer's own tenants and backends.
    /// </summary>
    public static bool IsDevelopmentStorage(StorageOptions options) =>
        options.AccountName is null && options.ConnectionString is { } connection
        && (connection.Contains(StorageOptions.AzuriteDefault, StringComparison.OrdinalIgnoreCase)
            || connection.Contains("AccountName=devstoreaccount1", StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// Export settings from the environment, named as the Functions app reads them (secrets,
    /// <c>ServerlessOtlp__Egress__*</c>, <c>ServerlessOtlp__Export__FileRoot</c>, …); with
    /// <paramref name="local"/> also loopback and private networks, and without a file root any path.
    /// </summary>
    public static ExportSettings ExportSettingsFromEnvironment(bool local)
    {
        ExportSettings settings;
        try
        {
            settings = ExportSettings.FromConfiguration(new ConfigurationBuilder().AddEnvironmentVariables().Build());
        }
        catch (InvalidOperationException ex)
        {
            throw new Terminal.CliException($"invalid environment variable: {ex.Message}", Terminal.ExitCodes.Usage, ex);
        }

        return local ? settings.ForLocalDevelopment() : settings;
    }

    /// <summary>What a tenant file may say about file paths here: relative ones under a root (a deployment, or any root given), any path locally without one.</summary>
    public static TenantFileRules TenantFileRulesFor(bool local) =>
        local && ExportSettingsFromEnvironment(local: false).Files.Root is null ? TenantFileRules.AnyPath : TenantFileRules.Deployment;

    /// <summary>
    /// Processing services over the opened log, composed as the Functions app composes them
    /// (<see cref="ProcessingComposition.AddServerlessOtlpProcessing"/>): every <c>ServerlessOtlp__*</c> section of
    /// the environment bound and validated (<c>ServerlessOtlp__Drain__LeaseTtl=00:00:06</c>,
    /// <c>ServerlessOtlp__RetryStore__MaxAge</c>, …), with the storage, log and tenants the flags chose.
    /// Creates the tables, containers and the drain-jobs queue.
    /// </summary>
    /// <param name="local">Export with local defaults (<see cref="ExportSettingsFromEnvironment"/>).</param>
    public static async Task<ProcessingServices> CreateServicesAsync(IPartitionedLog log, StorageClients storage, ITenantDirectory tenants, ILoggerFactory loggers, bool local, CancellationToken cancellationToken)
    {
        var provider = new ServiceCollection()
            .AddSingleton(loggers)
            .AddSingleton(storage)
            .AddSingleton(log)
            .AddSingleton(tenants)
            .AddSingleton(ExportSettingsFromEnvironment(local))
            .AddServerlessOtlpProcessing(new ConfigurationBuilder().AddEnvironmentVariables().Build())
            .BuildServiceProvider();
        try
        {
            return await provider.GetRequiredService<ProcessingServicesProvider>().GetAsync(cancellationToken);
        }
        catch (OptionsValidationException ex)
        {
            throw new Terminal.CliException($"invalid ServerlessOtlp__* environment variable: {ex.Message}", Terminal.ExitCodes.Usage, ex);
        }
        catch (AggregateException ex) when (ex.InnerExceptions.All(e => e is OptionsValidationException))
        {
            // Several sections fail together: name them all.
            throw new Terminal.CliException($"invalid ServerlessOtlp__* environment variables: {string.Join("; ", ex.InnerExceptions.Select(e => e.Message))}", Terminal.ExitCodes.Usage, ex);
        }
    }

    /// <summary>Loggers for library code: warnings and errors (with --verbose also debug), on stderr, one line each.</summary>
    public static ILoggerFactory CreateLoggers(LogLevel minimum = LogLevel.Warning) =>
        LoggerFactory.Create(b =>
        {
            AddConsoleLogging(b, minimum);
            b.AddFilter("Azure", OtlpctlApp.IsVerbose ? LogLevel.Warning : LogLevel.Error);
        });

    /// <summary>
    /// One line per entry on stderr (the console logger's default sends warnings to stdout, where they
    /// would mix with data); stack traces only with --verbose, as library code logs them at debug.
    /// </summary>
    public static void AddConsoleLogging(ILoggingBuilder builder, LogLevel minimum = LogLevel.Warning)
    {
        builder.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss ";
        });
        builder.Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.SetMinimumLevel(OtlpctlApp.IsVerbose ? LogLevel.Debug : minimum);
    }
}
