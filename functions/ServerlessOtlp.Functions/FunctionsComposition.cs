using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using ServerlessOtlp.Hosting;
using ServerlessOtlp.Processing;

namespace ServerlessOtlp.Functions;

/// <summary>What the Functions app adds to the shared processing composition: its own settings and the <see cref="ProcessingHost"/>.</summary>
public static class FunctionsComposition
{
    public static IServiceCollection AddServerlessOtlpFunctions(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddServerlessOtlpProcessing(configuration);
        // The app's meters, to Azure Monitor (APPLICATIONINSIGHTS_*, set by the Bicep) and/or OTLP (OTEL_EXPORTER_OTLP_*).
        services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(configuration["OTEL_SERVICE_NAME"] ?? "serverlessotlp-functions"))
            .WithMetrics(m => m.AddServerlessOtlpMeters().AddMeter(FunctionExecutions.MeterName).AddServerlessOtlpExporters(configuration));
        services.AddSingleton(sp => new FunctionExecutions(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.AddOptions<FunctionsOptions>()
            .Bind(configuration.GetSection(FunctionsOptions.Section))
            .Validate(o => o.Retention > TimeSpan.Zero, FunctionsOptions.Section + ": Retention must be positive")
            .Validate(o => o.HealthSweepPeriod > TimeSpan.Zero && o.RetryStorePeriod > TimeSpan.Zero, FunctionsOptions.Section + ": HealthSweepPeriod and RetryStorePeriod must be positive")
            .ValidateOnStart();
        services.AddSingleton(sp => new ProcessingHost(
            sp.GetRequiredService<ProcessingServicesProvider>(),
            sp.GetRequiredService<IOptions<FunctionsOptions>>().Value,
            sp.GetRequiredService<IOptions<HealthOptions>>().Value));
        return services;
    }
}
