using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using ServerlessOtlp.Client.Implementation;

namespace ServerlessOtlp.Client;

/// <summary>
/// Registers the failover exporter for traces, metrics and logs. Options come from the
/// <c>ServerlessOtlp</c> configuration section of the provider's <see cref="IConfiguration"/>
/// (the host's configuration, or environment variables such as <c>ServerlessOtlp__Endpoints__0</c>),
/// then from <c>configure</c>.
/// </summary>
public static class ServerlessOtlpExporterExtensions
{
    /// <summary>The meter of the exporter's self-metrics; add it to a MeterProvider to export them.</summary>
    public const string MeterName = ClientMetrics.MeterName;

    public static TracerProviderBuilder AddServerlessOtlpExporter(this TracerProviderBuilder builder, Action<ServerlessOtlpExporterOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddProcessor(sp =>
        {
            var options = Resolve(sp, configure);
            var exporter = CreateTraceExporter(options);
            return new BatchActivityExportProcessor(exporter, options.MaxQueueSize, Milliseconds(options.ScheduledDelay), Milliseconds(options.AttemptTimeout), options.MaxExportBatchSize);
        });
    }

    public static MeterProviderBuilder AddServerlessOtlpExporter(this MeterProviderBuilder builder, Action<ServerlessOtlpExporterOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddReader(sp =>
        {
            var options = Resolve(sp, configure);
            return new PeriodicExportingMetricReader(CreateMetricExporter(options), Milliseconds(options.MetricExportInterval))
            {
                TemporalityPreference = options.MetricTemporality,
            };
        });
    }

    public static LoggerProviderBuilder AddServerlessOtlpExporter(this LoggerProviderBuilder builder, Action<ServerlessOtlpExporterOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddProcessor(sp => CreateLogProcessor(Resolve(sp, configure)));
    }

    public static OpenTelemetryLoggerOptions AddServerlessOtlpExporter(this OpenTelemetryLoggerOptions loggerOptions, Action<ServerlessOtlpExporterOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(loggerOptions);
        return loggerOptions.AddProcessor(sp => CreateLogProcessor(Resolve(sp, configure)));
    }

    internal static FailoverExporter<Activity> CreateTraceExporter(ServerlessOtlpExporterOptions options) =>
        new("traces", options, o => new OtlpTraceExporter(o), keep: static a => a, bufferable: true);

    internal static FailoverExporter<Metric> CreateMetricExporter(ServerlessOtlpExporterOptions options) =>
        new("metrics", options, o => new OtlpMetricExporter(o), keep: static m => m, bufferable: false);

    internal static FailoverExporter<LogRecord> CreateLogExporter(ServerlessOtlpExporterOptions options) =>
        new("logs", options, o => new OtlpLogExporter(o), keep: SdkInternals.CopyLogRecord, bufferable: true);

    private static BatchLogRecordExportProcessor CreateLogProcessor(ServerlessOtlpExporterOptions options) =>
        new(CreateLogExporter(options), options.MaxQueueSize, Milliseconds(options.ScheduledDelay), Milliseconds(options.AttemptTimeout), options.MaxExportBatchSize);

    private static ServerlessOtlpExporterOptions Resolve(IServiceProvider services, Action<ServerlessOtlpExporterOptions>? configure)
    {
        var options = new ServerlessOtlpExporterOptions();
        services.GetService<IConfiguration>()?.GetSection(ServerlessOtlpExporterOptions.Section).Bind(options);
        configure?.Invoke(options);
        return options;
    }

    private static int Milliseconds(TimeSpan span) => (int)Math.Clamp(span.TotalMilliseconds, 1, int.MaxValue);
}
