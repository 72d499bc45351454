using System.CommandLine;
using Microsoft.Extensions.Logging;
using ServerlessOtlp.Log;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Cli.Connection;

/// <summary>What the operator commands (status, replay, deadletter) work on: storage, the opened log and the processing services.</summary>
internal sealed class ProcessingConnection : IAsyncDisposable
{
    private ProcessingConnection(ILoggerFactory loggers, IPartitionedLog log, ProcessingServices services, TenantStore tenants)
    {
        Loggers = loggers;
        Log = log;
        Services = services;
        Tenants = tenants;
    }

    public ILoggerFactory Loggers { get; }

    public IPartitionedLog Log { get; }

    public ProcessingServices Services { get; }

    public TenantStore Tenants { get; }

    public static async Task<ProcessingConnection> OpenAsync(StorageSelection selection, ParseResult parse, CancellationToken cancellationToken)
    {
        var loggers = StorageSelection.CreateLoggers(LogLevel.Error);
        try
        {
            var storage = selection.CreateStorage(parse);
            var tenants = StorageSelection.CreateTenantStore(storage);
            var log = await selection.OpenLogAsync(parse, storage, loggers, cancellationToken);
            bool local = StorageSelection.IsDevelopmentStorage(selection.StorageOptionsFrom(parse));
            var services = await StorageSelection.CreateServicesAsync(log, storage, new TenantDirectory(tenants), loggers, local, cancellationToken);
            return new ProcessingConnection(loggers, log, services, tenants);
        }
        catch
        {
            loggers.Dispose();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Log.DisposeAsync();
        Loggers.Dispose();
    }
}
