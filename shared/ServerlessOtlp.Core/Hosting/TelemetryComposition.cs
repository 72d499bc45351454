using Azure.Core;
using Azure.Identity;
using Azure.Monitor.OpenTelemetry.Exporter;
using Microsoft.Extensions.Configuration;
using OpenTelemetry.Metrics;
using ServerlessOtlp.Export;
using ServerlessOtlp.Pipeline;

namespace ServerlessOtlp.Hosting;

/// <summary>
/// One telemetry composition for every host (the gateway, the Functions app, <c>otlpctl dev</c>): every
/// meter of the project and the platform's built-in ones, exported where the environment says — Azure
/// Monitor in the cloud, any OTLP endpoint through the standard variables; the gateway adds Prometheus
/// text on its management port.
/// </summary>
/// <remarks>
/// Self-telemetry sent into this pipeline's own gateway (the OTLP endpoint pointing at it, with a tenant
/// key in <c>OTEL_EXPORTER_OTLP_HEADERS</c>) is a metrics flow at the export interval, whatever the
/// traffic: nothing here instruments items one by one, so it cannot feed on itself. Give it a tenant of
/// its own.
/// </remarks>
public static class TelemetryComposition
{
    /// <summary>The project's meters (the client library's, <c>ServerlessOtlp.Client</c>, belongs to the applications using it).</summary>
    public static IReadOnlyList<string> ProjectMeters { get; } =
        ["ServerlessOtlp.Gateway", PipelineMetrics.MeterName, Processing.DrainMetrics.MeterName, RetryStoreMetrics.MeterName, StorageTransactions.MeterName];

    /// <summary>Meters .NET and ASP.NET Core publish themselves (no instrumentation packages needed).</summary>
    public static IReadOnlyList<string> PlatformMeters { get; } =
        ["System.Runtime", "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "System.Net.Http"];

    public static MeterProviderBuilder AddServerlessOtlpMeters(this MeterProviderBuilder metrics) =>
        metrics.AddMeter([.. ProjectMeters, .. PlatformMeters]);

    /// <summary>
    /// OTLP when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> or <c>OTEL_EXPORTER_OTLP_METRICS_ENDPOINT</c> is set (the SDK
    /// reads the other <c>OTEL_EXPORTER_OTLP_*</c> variables); Azure Monitor when
    /// <c>APPLICATIONINSIGHTS_CONNECTION_STRING</c> is set, with Microsoft Entra ID when
    /// <c>APPLICATIONINSIGHTS_AUTHENTICATION_STRING</c> says <c>Authorization=AAD</c> (the component's local
    /// authentication is off in the Bicep).
    /// </summary>
    public static MeterProviderBuilder AddServerlessOtlpExporters(this MeterProviderBuilder metrics, IConfiguration configuration)
    {
        if (!string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]) || !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"]))
        {
            metrics.AddOtlpExporter();
        }

        if (configuration["APPLICATIONINSIGHTS_CONNECTION_STRING"] is { Length: > 0 } connectionString)
        {
            var credential = EntraCredential(configuration["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]);
            metrics.AddAzureMonitorMetricExporter(o =>
            {
                o.ConnectionString = connectionString;
                o.Credential = credential;
            });
        }

        return metrics;
    }

    /// <summary>
    /// The credential an <c>APPLICATIONINSIGHTS_AUTHENTICATION_STRING</c> asks for (<c>Authorization=AAD</c>,
    /// optionally <c>ClientId=…</c> of a user-assigned identity); null without one (key-based ingestion).
    /// </summary>
    internal static TokenCredential? EntraCredential(string? authentication)
    {
        if (string.IsNullOrWhiteSpace(authentication))
        {
            return null;
        }

        string? clientId = null;
        bool aad = false;
        foreach (var part in authentication.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                continue;
            }

            string key = part[..eq].Trim(), value = part[(eq + 1)..].Trim();
            if (key.Equals("Authorization", StringComparison.OrdinalIgnoreCase))
            {
                aad = value.Equals("AAD", StringComparison.OrdinalIgnoreCase);
            }
            else if (key.Equals("ClientId", StringComparison.OrdinalIgnoreCase))
            {
                clientId = value;
            }
        }

        return aad ? new DefaultAzureCredential(new DefaultAzureCredentialOptions { ManagedIdentityClientId = clientId }) : null;
    }
}
