using System.Net;
using System.Net.Sockets;
using System.Text;
using Google.Protobuf;
using Microsoft.Extensions.Configuration;
using ServerlessOtlp.Export;
using ServerlessOtlp.Export.Egress;
using ServerlessOtlp.Export.Loki;
using ServerlessOtlp.Export.Otlp;
using ServerlessOtlp.Export.PrometheusRemoteWrite;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Otlp;

namespace ServerlessOtlp.Tests.Export;

/// <summary>
/// The egress policy (issue 14, item 10) through the real exporters against local receivers: what
/// a hostile tenant's endpoint can reach, and what a hostile backend's answer can make an exporter do.
/// </summary>
public sealed class EgressTests
{
    public static TheoryData<string> NetworkKinds => ["otlp", "otlphttp", "loki", "prometheusremotewrite"];

    public static TheoryData<string> HttpKinds => ["otlphttp", "loki", "prometheusremotewrite"];

    [Theory]
    [InlineData("169.254.169.254", AddressClass.AlwaysRefused)]
    [InlineData("169.254.0.1", AddressClass.AlwaysRefused)]
    [InlineData("::ffff:169.254.169.254", AddressClass.AlwaysRefused)]
    [InlineData("::169.254.169.254", AddressClass.AlwaysRefused)]
    [InlineData("64:ff9b::169.254.169.254", AddressClass.AlwaysRefused)]
    [InlineData("168.63.129.16", AddressClass.AlwaysRefused)]
    [InlineData("::ffff:168.63.129.16", AddressClass.AlwaysRefused)]
    [InlineData("fd00:ec2::254", AddressClass.AlwaysRefused)]
    [InlineData("fe80::1", AddressClass.AlwaysRefused)]
    [InlineData("0.0.0.0", AddressClass.AlwaysRefused)]
    [InlineData("0.1.2.3", AddressClass.AlwaysRefused)]
    [InlineData("::", AddressClass.AlwaysRefused)]
    [InlineData("::ffff:0.0.0.0", AddressClass.AlwaysRefused)]
    [InlineData("224.0.0.1", AddressClass.AlwaysRefused)]
    [InlineData("239.255.255.250", AddressClass.AlwaysRefused)]
    [InlineData("255.255.255.255", AddressClass.AlwaysRefused)]
    [InlineData("ff02::1", AddressClass.AlwaysRefused)]
    [InlineData("127.0.0.1", AddressClass.Private)]
    [InlineData("127.8.9.10", AddressClass.Private)]
    [InlineData("::1", AddressClass.Private)]
    [InlineData("::ffff:127.0.0.1", AddressClass.Private)]
    [InlineData("10.1.2.3", AddressClass.Private)]
    [InlineData("::ffff:10.1.2.3", AddressClass.Private)]
    [InlineData("172.16.0.1", AddressClass.Private)]
    [InlineData("172.31.255.255", AddressClass.Private)]
    [InlineData("192.168.1.1", AddressClass.Private)]
    [InlineData("100.64.0.1", AddressClass.Private)]
    [InlineData("100.100.100.200", AddressClass.Private)]
    [InlineData("fd12:3456::1", AddressClass.Private)]
    [InlineData("fc00::1", AddressClass.Private)]
    [InlineData("8.8.8.8", AddressClass.Public)]
    [InlineData("172.32.0.1", AddressClass.Public)]
    [InlineData("100.128.0.1", AddressClass.Public)]
    [InlineData("169.255.0.1", AddressClass.Public)]
    [InlineData("2001:4860:4860::8888", AddressClass.Public)]
    [InlineData("::ffff:8.8.8.8", AddressClass.Public)]
    public void Addresses_are_classified(string address, AddressClass expected)
    {
        Assert.Equal(expected, EgressAddresses.Classify(IPAddress.Parse(address)));
    }

    [Fact]
    public void An_allowed_network_opens_private_ranges_but_never_metadata_or_link_local()
    {
        IReadOnlyList<IPNetwork> everything = [IPNetwork.Parse("0.0.0.0/0"), IPNetwork.Parse("::/0")];

        Assert.Null(EgressPolicy.Refusal(IPAddress.Parse("127.0.0.1"), everything));
        Assert.Null(EgressPolicy.Refusal(IPAddress.Parse("::ffff:10.0.0.1"), everything));
        foreach (string refused in new[] { "169.254.169.254", "::ffff:169.254.169.254", "168.63.129.16", "fd00:ec2::254", "fe80::1", "0.0.0.0" })
        {
            Assert.NotNull(EgressPolicy.Refusal(IPAddress.Parse(refused), everything));
        }

        Assert.NotNull(EgressPolicy.Refusal(IPAddress.Parse("127.0.0.1"), []));
        Assert.NotNull(EgressPolicy.Refusal(IPAddress.Parse("10.0.0.1"), [IPNetwork.Parse("10.1.0.0/16")]));
        Assert.Null(EgressPolicy.Refusal(IPAddress.Parse("10.1.2.3"), [IPNetwork.Parse("10.1.0.0/16")]));
        Assert.Null(EgressPolicy.Refusal(IPAddress.Parse("8.8.8.8"), []));
    }

    [Fact]
    public void Egress_configuration_is_read_and_a_network_that_does_not_parse_stops_the_host()
    {
        var options = EgressOptions.FromConfiguration(Configuration(new()
        {
            ["ServerlessOtlp:Egress:AllowedNetworks"] = "10.20.0.0/16, fd00::/8",
            ["ServerlessOtlp:Egress:Tenants:acme:AllowedNetworks:0"] = "192.168.7.0/24",
            ["ServerlessOtlp:Egress:Tenants:acme:AllowedNetworks:1"] = "127.0.0.1",
            ["ServerlessOtlp:Egress:Tenants:acme:PinnedHeaders:X-Scope-OrgID"] = "acme",
        }));
        var policy = new EgressPolicy(options);

        Assert.Equal(["10.20.0.0/16", "fd00::/8"], policy.AllowedNetworksFor("globex").Select(n => n.ToString()));
        Assert.Equal(["10.20.0.0/16", "fd00::/8", "192.168.7.0/24", "127.0.0.1/32"], policy.AllowedNetworksFor("acme").Select(n => n.ToString()));
        Assert.Equal("acme", policy.PinnedHeadersFor("acme")["x-scope-orgid"]);
        Assert.Empty(policy.PinnedHeadersFor("globex"));

        var ex = Assert.Throws<InvalidOperationException>(() => EgressOptions.FromConfiguration(Configuration(new() { ["ServerlessOtlp:Egress:Tenants:acme:AllowedNetworks:0"] = "10.1.2.3/8" })));
        Assert.Contains("ServerlessOtlp:Egress:Tenants:acme:AllowedNetworks:0", ex.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => EgressOptions.FromConfiguration(Configuration(new() { ["ServerlessOtlp:Egress:AllowedNetworks"] = "tempo.internal" })));
    }

    [Fact]
    public void Per_tenant_settings_can_be_a_list_for_ids_and_headers_a_setting_name_cannot_spell()
    {
        // As Azure app settings: names of letters, digits and underscores only; ids and headers in values.
        var policy = new EgressPolicy(EgressOptions.FromConfiguration(Configuration(new()
        {
            ["ServerlessOtlp__Egress__Tenants__acme__AllowedNetworks".Replace("__", ":", StringComparison.Ordinal)] = "10.1.0.0/16",
            ["ServerlessOtlp:Egress:TenantRules:0:Tenant"] = "Acme",
            ["ServerlessOtlp:Egress:TenantRules:0:AllowedNetworks"] = "10.2.0.0/16",
            ["ServerlessOtlp:Egress:TenantRules:1:Tenant"] = "tenant-one(eu)",
            ["ServerlessOtlp:Egress:TenantRules:1:PinnedHeaders:0:Name"] = "X-Scope-OrgID",
            ["ServerlessOtlp:Egress:TenantRules:1:PinnedHeaders:0:Value"] = "one",
            ["ServerlessOtlp:Egress:TenantRules:2:Tenant"] = "acme",
            ["ServerlessOtlp:Egress:TenantRules:2:AllowedNetworks:0"] = "10.3.0.0/16",
        })));

        Assert.Equal(["10.1.0.0/16", "10.3.0.0/16"], policy.AllowedNetworksFor("acme").Select(n => n.ToString()));
        Assert.Equal(["10.2.0.0/16"], policy.AllowedNetworksFor("Acme").Select(n => n.ToString()));
        Assert.Equal("one", policy.PinnedHeadersFor("tenant-one(eu)")["X-Scope-OrgID"]);
        Assert.Empty(policy.AllowedNetworksFor("ACME"));

        var conflict = Assert.Throws<InvalidOperationException>(() => EgressOptions.FromConfiguration(Configuration(new()
        {
            ["ServerlessOtlp:Egress:Tenants:acme:PinnedHeaders:X-Scope-OrgID"] = "acme",
            ["ServerlessOtlp:Egress:TenantRules:0:Tenant"] = "acme",
            ["ServerlessOtlp:Egress:TenantRules:0:PinnedHeaders:0:Name"] = "x-scope-orgid",
            ["ServerlessOtlp:Egress:TenantRules:0:PinnedHeaders:0:Value"] = "globex",
        })));
        Assert.Contains("pinned to two values", conflict.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => EgressOptions.FromConfiguration(Configuration(new() { ["ServerlessOtlp:Egress:TenantRules:0:AllowedNetworks"] = "10.0.0.0/8" })));
    }

    [Theory]
    [MemberData(nameof(NetworkKinds))]
    public async Task A_hostname_resolving_to_loopback_is_refused_at_connect_unless_allowed(string kind)
    {
        await using var backend = await Backend.StartAsync(kind);
        string endpoint = $"http://localhost:{backend.Uri.Port}";

        var refused = await Exporter(kind, new EgressClients()).ExportAsync(Request(kind, "acme", endpoint));

        Assert.Equal(ExportStatus.Permanent, refused.Status);
        Assert.Contains("egress policy refused localhost", refused.Message, StringComparison.Ordinal);
        Assert.Contains("loopback or private", refused.Message, StringComparison.Ordinal);
        Assert.Equal(0, backend.Requests);

        var allowed = await Exporter(kind, TestEgress.Loopback).ExportAsync(Request(kind, "acme", endpoint));

        Assert.True(allowed.Status == ExportStatus.Success, allowed.Message);
        Assert.Equal(1, backend.Requests);
    }

    [Theory]
    [MemberData(nameof(NetworkKinds))]
    public async Task An_ipv4_mapped_ipv6_literal_of_the_metadata_address_is_refused_at_connect(string kind)
    {
        // Even an operator who allows every network cannot open the metadata service.
        var everything = new EgressClients(new EgressPolicy(new EgressOptions { AllowedNetworks = [IPNetwork.Parse("0.0.0.0/0"), IPNetwork.Parse("::/0")] }));

        var outcome = await Exporter(kind, everything).ExportAsync(Request(kind, "acme", "http://[::ffff:169.254.169.254]:80"));

        Assert.Equal(ExportStatus.Permanent, outcome.Status);
        Assert.Contains("egress policy refused", outcome.Message, StringComparison.Ordinal);
        Assert.Contains("169.254.169.254 is a link-local, metadata", outcome.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<EgressRefusedException>(async () => await EgressClients.ConnectAsync(new DnsEndPoint("::ffff:a9fe:a9fe", 80), everything.Policy.AllowedNetworksFor("acme"), CancellationToken.None));
    }

    [Theory]
    [MemberData(nameof(NetworkKinds))]
    public async Task A_tenants_allow_list_does_not_leak_to_other_tenants(string kind)
    {
        await using var backend = await Backend.StartAsync(kind);
        string endpoint = $"http://127.0.0.1:{backend.Uri.Port}";
        var egress = new EgressClients(new EgressPolicy(EgressOptions.FromConfiguration(Configuration(new()
        {
            ["ServerlessOtlp:Egress:Tenants:acme:AllowedNetworks"] = "127.0.0.0/8",
        }))));
        var exporter = Exporter(kind, egress);

        // acme first: its pooled connection to the backend now exists, and must serve nobody else.
        var acme = await exporter.ExportAsync(Request(kind, "acme", endpoint));
        Assert.True(acme.Status == ExportStatus.Success, acme.Message);

        foreach (string other in new[] { "Acme", "ACME", "globex", "acme " })
        {
            var outcome = await exporter.ExportAsync(Request(kind, other, endpoint));
            Assert.Equal(ExportStatus.Permanent, outcome.Status);
            Assert.Contains("egress policy refused", outcome.Message, StringComparison.Ordinal);
        }

        Assert.Equal(1, backend.Requests);
        Assert.Equal(ExportStatus.Success, (await exporter.ExportAsync(Request(kind, "acme", endpoint))).Status);
        Assert.Equal(2, backend.Requests);
    }

    [Theory]
    [MemberData(nameof(HttpKinds))]
    public async Task A_redirect_is_not_followed(string kind)
    {
        await using var elsewhere = await CapturingHttpReceiver.StartAsync();
        await using var backend = await CapturingHttpReceiver.StartAsync();
        backend.Answer = _ => (307, "", new Dictionary<string, string> { ["Location"] = new Uri(elsewhere.Uri, "/steal").ToString() });

        var outcome = await Exporter(kind, TestEgress.Loopback).ExportAsync(Request(kind, "acme", backend.Uri.ToString()));

        Assert.Equal(ExportStatus.Permanent, outcome.Status);
        Assert.Contains("HTTP 307 redirect to " + new Uri(elsewhere.Uri, "/steal"), outcome.Message, StringComparison.Ordinal);
        Assert.Contains("not followed", outcome.Message, StringComparison.Ordinal);
        Assert.Single(backend.Requests);
        Assert.Empty(elsewhere.Requests);
    }

    [Theory]
    [InlineData("otlphttp", 200)]
    [InlineData("otlphttp", 400)]
    [InlineData("loki", 200)]
    [InlineData("loki", 400)]
    [InlineData("prometheusremotewrite", 200)]
    [InlineData("prometheusremotewrite", 400)]
    public async Task A_backend_answering_100_MB_does_not_make_the_exporter_read_it(string kind, int status)
    {
        await using var backend = await HugeAnswerBackend.StartAsync(status);

        var outcome = await Exporter(kind, TestEgress.Loopback).ExportAsync(Request(kind, "acme", backend.Uri.ToString()));
        long written = await backend.WrittenAsync();

        Assert.Equal(status == 200 ? ExportStatus.Success : ExportStatus.Permanent, outcome.Status);

        // The exporter stopped reading at 64 KiB and closed the connection: the backend could not
        // hand over more than the sockets' buffers hold.
        Assert.True(written < HugeAnswerBackend.Size / 4, $"the backend wrote {written:N0} of {HugeAnswerBackend.Size:N0} bytes");
        Assert.True((outcome.Message?.Length ?? 0) < BoundedContent.MaxBytes + 1024, $"a message of {outcome.Message?.Length} characters");
    }

    [Theory]
    [MemberData(nameof(HttpKinds))]
    public async Task A_pinned_X_Scope_OrgID_wins_over_the_tenants_header(string kind)
    {
        await using var backend = await CapturingHttpReceiver.StartAsync();
        var egress = new EgressClients(new EgressPolicy(EgressOptions.FromConfiguration(Configuration(new()
        {
            ["ServerlessOtlp:Egress:AllowedNetworks"] = "127.0.0.0/8",
            ["ServerlessOtlp:Egress:Tenants:acme:PinnedHeaders:X-Scope-OrgID"] = "acme",
        }))));
        var exporter = Exporter(kind, egress);

        // Whatever case the tenant writes the header in, it cannot write into another org.
        var outcome = await exporter.ExportAsync(Request(kind, "acme", backend.Uri.ToString(), new() { ["x-scope-orgid"] = "globex", ["X-Team"] = "a" }));
        Assert.True(outcome.Status == ExportStatus.Success, outcome.Message);
        var request = Assert.Single(backend.Requests);
        Assert.Equal("acme", request.Headers["X-Scope-OrgID"]);
        Assert.Equal("a", request.Headers["X-Team"]);

        // Pinned also when the tenant sends none; another tenant keeps its own.
        Assert.Equal(ExportStatus.Success, (await exporter.ExportAsync(Request(kind, "acme", backend.Uri.ToString()))).Status);
        Assert.Equal("acme", backend.Requests.Last().Headers["X-Scope-OrgID"]);
        Assert.Equal(ExportStatus.Success, (await exporter.ExportAsync(Request(kind, "globex", backend.Uri.ToString(), new() { ["X-Scope-OrgID"] = "globex" }))).Status);
        Assert.Equal("globex", backend.Requests.Last().Headers["X-Scope-OrgID"]);
    }

    [Fact]
    public async Task A_pinned_header_goes_into_grpc_metadata_too()
    {
        var headers = new DestinationHeaders(egress: new EgressPolicy(EgressOptions.FromConfiguration(Configuration(new()
        {
            ["ServerlessOtlp:Egress:Tenants:acme:PinnedHeaders:X-Scope-OrgID"] = "acme",
        }))));
        var destination = new DestinationConfig { Name = "jaeger", Kind = OtlpDestination.KindName, Headers = new Dictionary<string, string> { ["X-SCOPE-ORGID"] = "globex" } };

        var resolved = await headers.ResolveAsync("acme", destination);

        Assert.Null(resolved.Failure);
        Assert.Equal([new KeyValuePair<string, string>("X-Scope-OrgID", "acme")], resolved.Headers);
    }

    internal static IConfiguration Configuration(Dictionary<string, string?> values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values).Build();

    internal static IDestinationExporter Exporter(string kind, EgressClients egress, DestinationHeaders? headers = null) =>
        DestinationKinds.Find(kind)!.CreateExporter(TestEgress.With(egress, headers));

    /// <summary>One small export of the signal <paramref name="kind"/> carries, for tenant <paramref name="tenant"/>.</summary>
    internal static ExportRequest Request(string kind, string tenant, string endpoint, Dictionary<string, string>? headers = null)
    {
        var (destinationKind, signal, message) = kind switch
        {
            "otlp" => (OtlpDestination.KindName, Signal.Traces, (IMessage)OtlpTestData.Traces(1, resources: 1, scopes: 1, spans: 2, invalidShare: 0)),
            "otlphttp" => (OtlpHttpDestination.KindName, Signal.Traces, OtlpTestData.Traces(1, resources: 1, scopes: 1, spans: 2, invalidShare: 0)),
            "loki" => (LokiDestination.KindName, Signal.Logs, OtlpTestData.Logs(1, resources: 1, records: 2)),
            _ => (RemoteWriteDestination.KindName, Signal.Metrics, TestMetrics.Request(TestMetrics.Gauge("egress_test", "1", 1, TestMetrics.NowNs()))),
        };
        return new ExportRequest(
            new TenantConfig { Id = tenant },
            new DestinationConfig { Name = "backend", Kind = destinationKind, Signals = [signal], Endpoint = endpoint, Headers = headers ?? new Dictionary<string, string>() },
            signal,
            message,
            message.ToByteArray());
    }

    /// <summary>The receiver a kind talks to: gRPC for otlp, a capturing HTTP receiver for the rest.</summary>
    private sealed class Backend : IAsyncDisposable
    {
        private readonly OtlpTestReceiver? _grpc;
        private readonly CapturingHttpReceiver? _http;

        private Backend(OtlpTestReceiver? grpc, CapturingHttpReceiver? http)
        {
            _grpc = grpc;
            _http = http;
        }

        public Uri Uri => _grpc?.GrpcUri ?? _http!.Uri;

        public int Requests => _grpc?.Requests ?? _http!.Requests.Count;

        public static async Task<Backend> StartAsync(string kind) =>
            kind == "otlp" ? new Backend(await OtlpTestReceiver.StartAsync(), null) : new Backend(null, await CapturingHttpReceiver.StartAsync());

        public async ValueTask DisposeAsync()
        {
            if (_grpc is not null)
            {
                await _grpc.DisposeAsync();
            }

            if (_http is not null)
            {
                await _http.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// A backend on a raw socket that answers one request with a 100 MB body, counting the bytes
    /// the socket took before the client closed it (a web server would accept writes to a closed
    /// connection and drop them, hiding whether the client read them).
    /// </summary>
    private sealed class HugeAnswerBackend : IAsyncDisposable
    {
        public const long Size = 100L * 1024 * 1024;

        private readonly TcpListener _listener;
        private readonly Task<long> _serving;

        private HugeAnswerBackend(TcpListener listener, int status)
        {
            _listener = listener;
            _serving = ServeAsync(status);
        }

        public Uri Uri => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");

        public static Task<HugeAnswerBackend> StartAsync(int status)
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            return Task.FromResult(new HugeAnswerBackend(listener, status));
        }

        /// <summary>Bytes the socket took once the answer ended (the client closed the connection, or all of it was taken).</summary>
        public Task<long> WrittenAsync() => _serving.WaitAsync(TimeSpan.FromMinutes(2));

        public ValueTask DisposeAsync()
        {
            _listener.Stop();
            return ValueTask.CompletedTask;
        }

        private async Task<long> ServeAsync(int status)
        {
            using var client = await _listener.AcceptTcpClientAsync();
            var stream = client.GetStream();
            await ReadRequestAsync(stream);
            byte[] head = Encoding.ASCII.GetBytes($"HTTP/1.1 {status} Answer\r\nContent-Type: text/plain\r\nContent-Length: {Size}\r\n\r\n");
            await stream.WriteAsync(head);
            var chunk = new byte[64 * 1024];
            Array.Fill(chunk, (byte)'x');
            long written = 0;
            try
            {
                while (written < Size)
                {
                    await stream.WriteAsync(chunk);
                    written += chunk.Length;
                }
            }
            catch (IOException)
            {
                // The client closed the connection: the rest was never taken.
            }

            return written;
        }

        /// <summary>Reads the request's head and its Content-Length body.</summary>
        private static async Task ReadRequestAsync(NetworkStream stream)
        {
            var head = new List<byte>();
            var one = new byte[1];
            while (!(head.Count >= 4 && head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n'))
            {
                if (await stream.ReadAsync(one) == 0)
                {
                    throw new IOException("the client closed the connection before its request ended");
                }

                head.Add(one[0]);
            }

            long length = 0;
            foreach (string line in Encoding.ASCII.GetString([.. head]).Split("\r\n"))
            {
                if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
                {
                    length = long.Parse(line["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
                }
            }

            var body = new byte[8192];
            for (long left = length; left > 0;)
            {
                int read = await stream.ReadAsync(body.AsMemory(0, (int)Math.Min(body.Length, left)));
                if (read == 0)
                {
                    throw new IOException("the client closed the connection before its body ended");
                }

                left -= read;
            }
        }
    }
}
