using ServerlessOtlp.Otlp;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Export.PrometheusRemoteWrite;

/// <summary>The <c>prometheusremotewrite</c> kind: metrics by remote write 1.0 to Prometheus, Mimir, Cortex, VictoriaMetrics.</summary>
internal sealed class RemoteWriteDestination : DestinationFactory<NoSettings>
{
    public const string KindName = "prometheusremotewrite";

    public override string Kind => KindName;

    public override IReadOnlyList<Signal> Signals { get; } = [Signal.Metrics];

    public override IDestinationExporter CreateExporter(DestinationServices services) => new PrometheusRemoteWriteExporter(services);

    protected override void Validate(DestinationConfig destination, NoSettings settings, DestinationCheck check)
    {
        check.Endpoint(destination, KindName);
        if (destination.Compression is not null)
        {
            check.Error("compression", "is not configurable for prometheusremotewrite (the protocol always uses snappy)");
        }
    }
}
