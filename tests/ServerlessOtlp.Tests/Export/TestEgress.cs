using System.Net;
using ServerlessOtlp.Export;
using ServerlessOtlp.Export.Egress;
using ServerlessOtlp.Processing;

namespace ServerlessOtlp.Tests.Export;

/// <summary>
/// What tests export under. Their backends are local receivers on 127.0.0.1 and their file
/// destinations temporary directories, which a deployment refuses (loopback is not a public
/// address, and files need an operator's root): tests say so explicitly here, as <c>otlpctl dev</c> does.
/// </summary>
internal static class TestEgress
{
    /// <summary>Connections that may reach loopback (and nothing else private).</summary>
    public static EgressClients Loopback { get; } = new(new EgressPolicy(new EgressOptions { AllowedNetworks = [IPNetwork.Parse("127.0.0.0/8"), IPNetwork.Parse("::1/128")] }));

    /// <summary>What exporters are built with, over <see cref="Loopback"/>.</summary>
    public static DestinationServices LoopbackServices { get; } = With(Loopback);

    /// <summary>What exporters are built with, over <paramref name="egress"/> (and its policy's headers unless given).</summary>
    public static DestinationServices With(EgressClients egress, DestinationHeaders? headers = null) =>
        new(egress, headers ?? new DestinationHeaders(egress: egress.Policy), new ExportSettings(), TimeProvider.System);

    /// <summary><c>otlpctl dev</c>'s settings: loopback and private networks, file paths as written.</summary>
    public static ExportSettings Local { get; } = new ExportSettings().ForLocalDevelopment();
}
