using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Grpc.Net.Compression;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Proto.Collector.Trace.V1;
using OpenTelemetry.Proto.Common.V1;
using OpenTelemetry.Proto.Resource.V1;
using OpenTelemetry.Proto.Trace.V1;
using ServerlessOtlp.Gateway;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Gateway;

/// <summary>
/// The real gateway (Kestrel, all three listeners) on random loopback ports, with an in-memory
/// log and tenant directory. Started per fixture, or per test for special configurations.
/// </summary>
internal sealed class TestGateway : IAsyncDisposable
{
    public const string AcmeKey = "acme-key-0123456789abcdef";
    public const string GlobexKey = "globex-key-0123456789abcdef";

    public static TenantFile DefaultTenants { get; } = new()
    {
        Tenants =
        [
            new TenantConfig { Id = "acme", ApiKeys = [AcmeKey] },
            new TenantConfig { Id = "globex", ApiKeys = [GlobexKey] },
        ],
    };

    private TestGateway(WebApplication app, GatewayOptions options, IPartitionedLog log)
    {
        App = app;
        Options = options;
        Log = log;
    }

    public WebApplication App { get; }

    public GatewayOptions Options { get; }

    public IPartitionedLog Log { get; }

    /// <summary>The log when it is a <see cref="MemoryLog"/> (the default).</summary>
    public MemoryLog Memory => Log as MemoryLog ?? throw new InvalidOperationException("this gateway does not run on a MemoryLog");

    public Uri GrpcUri => new($"http://127.0.0.1:{Options.GrpcPort}");

    public Uri HttpUri => new($"http://127.0.0.1:{Options.HttpPort}");

    public Uri ManagementUri => new($"http://127.0.0.1:{Options.ManagementPort}");

    public static async Task<TestGateway> StartAsync(IPartitionedLog? log = null, TenantFile? tenants = null, Action<GatewayOptions>? configure = null, ServerlessOtlp.Processing.DrainWakeup? wakeup = null)
    {
        log ??= new MemoryLog(8);
        await log.OpenAsync();
        var directory = new InMemoryTenantDirectory(tenants ?? DefaultTenants);
        for (int attempt = 0; ; attempt++)
        {
            var options = new GatewayOptions
            {
                BindAddress = "127.0.0.1",
                GrpcPort = TestPorts.Next(),
                HttpPort = TestPorts.Next(),
                ManagementPort = TestPorts.Next(),
                NodeId = "gw-test",
                FlushDelay = TimeSpan.FromMilliseconds(1),
            };
            configure?.Invoke(options);
            var app = GatewayHost.Build(options, new GatewayDependencies(log, directory, null, Wakeup: wakeup), configure: b => b.Logging.ClearProviders());
            try
            {
                await app.StartAsync();
                return new TestGateway(app, options, log);
            }
            catch (IOException) when (attempt < 3)
            {
                // A port taken between FreePort() and the bind: pick others.
                await app.DisposeAsync();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            await App.StopAsync(cts.Token);
        }

        await App.DisposeAsync();
    }

    /// <summary>An HTTP/1.1 client for the OTLP/HTTP port.</summary>
    public HttpClient HttpClient() => new() { BaseAddress = HttpUri, Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>A gRPC channel to the gRPC port (h2c).</summary>
    public GrpcChannel GrpcChannel(IList<ICompressionProvider>? compression = null)
    {
        var options = new GrpcChannelOptions { MaxReceiveMessageSize = null, MaxSendMessageSize = null };
        if (compression != null)
        {
            options.CompressionProviders = compression;
        }

        return Grpc.Net.Client.GrpcChannel.ForAddress(GrpcUri, options);
    }

    /// <summary>Every event of a signal in the log, with its partition.</summary>
    public IEnumerable<(int Partition, EventProperties Properties, byte[] Body)> Events(Signal signal)
    {
        for (int p = 0; p < Memory.PartitionCount; p++)
        {
            foreach (var (props, body) in Memory.Snapshot(p))
            {
                if (props.Signal == signal)
                {
                    yield return (p, props, body);
                }
            }
        }
    }

    /// <summary>Every span in the log with its partition, tenant and resource.</summary>
    public IEnumerable<(int Partition, string Tenant, Resource Resource, Span Span)> Spans()
    {
        foreach (var (partition, props, body) in Events(Signal.Traces))
        {
            var request = ExportTraceServiceRequest.Parser.ParseFrom(body);
            foreach (var rs in request.ResourceSpans)
            {
                foreach (var ss in rs.ScopeSpans)
                {
                    foreach (var span in ss.Spans)
                    {
                        yield return (partition, props.Tenant, rs.Resource, span);
                    }
                }
            }
        }
    }
}

/// <summary>The default gateway shared by the tests of one class.</summary>
public sealed class GatewayFixture : IAsyncLifetime
{
    private TestGateway? _gateway;

    internal TestGateway Gateway => _gateway ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync() => _gateway = await TestGateway.StartAsync();

    public async Task DisposeAsync()
    {
        if (_gateway != null)
        {
            await _gateway.DisposeAsync();
        }
    }
}

/// <summary>Requests and raw gRPC calls the protocol tests send.</summary>
public static class OtlpRequests
{
    public const string TraceService = "opentelemetry.proto.collector.trace.v1.TraceService";

    private static readonly Marshaller<byte[]> Raw = Marshallers.Create(b => b, b => b);

    /// <summary>Trace Export on raw bytes, so that any payload can be sent.</summary>
    public static readonly Method<byte[], byte[]> TraceExport = new(MethodType.Unary, TraceService, "Export", Raw, Raw);

    /// <summary>A request with <paramref name="spans"/> valid spans, each with an "id" attribute <c>{marker}-{i}</c>.</summary>
    public static ExportTraceServiceRequest Traces(string marker, int spans = 5, IEnumerable<byte[]>? extraTraceIds = null)
    {
        // string.GetHashCode is randomized per process: a stable hash gives the same trace ids in every run.
        var rnd = new Random(unchecked((int)System.IO.Hashing.XxHash32.HashToUInt32(System.Text.Encoding.UTF8.GetBytes(marker))));
        var ss = new ScopeSpans { Scope = new InstrumentationScope { Name = "raw-test" } };
        for (int i = 0; i < spans; i++)
        {
            var traceId = new byte[16];
            rnd.NextBytes(traceId);
            traceId[0] |= 1;
            ss.Spans.Add(Span(traceId, $"{marker}-{i}", rnd));
        }

        int extra = 0;
        foreach (var id in extraTraceIds ?? [])
        {
            ss.Spans.Add(Span(id, $"{marker}-invalid-{extra++}", rnd));
        }

        var rs = new ResourceSpans { Resource = new Resource(), ScopeSpans = { ss } };
        rs.Resource.Attributes.Add(new KeyValue { Key = "service.name", Value = new AnyValue { StringValue = "raw-test" } });
        return new ExportTraceServiceRequest { ResourceSpans = { rs } };
    }

    private static Span Span(byte[] traceId, string id, Random rnd)
    {
        var spanId = new byte[8];
        rnd.NextBytes(spanId);
        spanId[0] |= 1;
        var span = new Span
        {
            TraceId = ByteString.CopyFrom(traceId),
            SpanId = ByteString.CopyFrom(spanId),
            Name = "op",
            StartTimeUnixNano = 1_700_000_000_000_000_000UL,
            EndTimeUnixNano = 1_700_000_000_100_000_000UL,
        };
        span.Attributes.Add(new KeyValue { Key = "id", Value = new AnyValue { StringValue = id } });
        return span;
    }

    public static string SpanId(Span span) => span.Attributes.FirstOrDefault(a => a.Key == "id")?.Value.StringValue ?? "";

    public static ByteArrayContent Protobuf(byte[] body, string contentType = "application/x-protobuf")
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        return content;
    }

    public static HttpRequestMessage Post(string path, HttpContent content, string? key = TestGateway.AcmeKey)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
        if (key != null)
        {
            request.Headers.Add("x-api-key", key);
        }

        return request;
    }

    public static Metadata Key(string? key = TestGateway.AcmeKey)
    {
        var headers = new Metadata();
        if (key != null)
        {
            headers.Add("x-api-key", key);
        }

        return headers;
    }

    public static Task<byte[]> ExportAsync(GrpcChannel channel, byte[] payload, Metadata? headers = null) =>
        channel.CreateCallInvoker().AsyncUnaryCall(TraceExport, null, new CallOptions(headers ?? Key(), DateTime.UtcNow.AddSeconds(30)), payload).ResponseAsync;

    /// <summary>Sends a valid request over HTTP and over gRPC and asserts both succeed: the gateway still serves.</summary>
    internal static async Task AssertStillServingAsync(TestGateway gateway, string? key = TestGateway.AcmeKey)
    {
        using var http = gateway.HttpClient();
        using var response = await http.SendAsync(Post("/v1/traces", Protobuf(Traces("alive-" + Guid.NewGuid().ToString("N"), 2).ToByteArray()), key));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        using var channel = gateway.GrpcChannel();
        var answer = await ExportAsync(channel, Traces("alive-grpc-" + Guid.NewGuid().ToString("N"), 2).ToByteArray(), Key(key));
        Assert.Empty(ExportTraceServiceResponse.Parser.ParseFrom(answer).PartialSuccess?.ErrorMessage ?? "");
    }
}

/// <summary>
/// gRPC compression provider named "gzip" whose compression is the identity: the payload handed
/// to the call is already gzip, so the client frames it with the compressed flag as it is.
/// </summary>
public sealed class PrecompressedGzipProvider : ICompressionProvider
{
    public string EncodingName => "gzip";

    public Stream CreateCompressionStream(Stream stream, System.IO.Compression.CompressionLevel? compressionLevel) => new NonClosingStream(stream);

    public Stream CreateDecompressionStream(Stream stream) => new System.IO.Compression.GZipStream(stream, System.IO.Compression.CompressionMode.Decompress);

    private sealed class NonClosingStream(Stream inner) : Stream
    {
        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush() => inner.Flush();

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);

        public override void Write(ReadOnlySpan<byte> buffer) => inner.Write(buffer);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => inner.WriteAsync(buffer, cancellationToken);
    }
}

/// <summary>A log whose appends can be made to block or fail, over a <see cref="MemoryLog"/>.</summary>
public sealed class ControllableLog(int partitions) : IPartitionedLog
{
    private readonly MemoryLog _inner = new(partitions);
    private volatile TaskCompletionSource? _gate;
    private TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal MemoryLog Inner => _inner;

    /// <summary>When set, appends throw it.</summary>
    public Exception? Failure { get; set; }

    /// <summary>Completes when an append is waiting at the gate.</summary>
    public Task Entered => Volatile.Read(ref _entered).Task;

    /// <summary>Makes appends wait until <see cref="Release"/>.</summary>
    public void Block()
    {
        Volatile.Write(ref _entered, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public void Release() => Interlocked.Exchange(ref _gate, null)?.TrySetResult();

    public string Name => "controllable";

    public int PartitionCount => _inner.PartitionCount;

    public Task OpenAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;

    public async Task AppendAsync(int partition, IReadOnlyList<LogEvent> events, CancellationToken cancellationToken = default)
    {
        if (Failure is { } failure)
        {
            throw failure;
        }

        if (_gate is { } gate)
        {
            Volatile.Read(ref _entered).TrySetResult();
            await gate.Task.WaitAsync(cancellationToken);
        }

        await _inner.AppendAsync(partition, events, cancellationToken);
    }

    public Task<ReadBatch> ReadAsync(int partition, LogPosition from, int maxEvents, int maxBytes, FencingToken fence, CancellationToken cancellationToken = default) =>
        _inner.ReadAsync(partition, from, maxEvents, maxBytes, fence, cancellationToken);

    public Task<LogPosition> GetEndAsync(int partition, CancellationToken cancellationToken = default) => _inner.GetEndAsync(partition, cancellationToken);

    public long Lag(LogPosition checkpoint, LogPosition end) => _inner.Lag(checkpoint, end);

    public Task<LogPosition> FindPositionAsync(int partition, DateTimeOffset time, CancellationToken cancellationToken = default) =>
        _inner.FindPositionAsync(partition, time, cancellationToken);

    // Reads keep no state per reader, and a side reader keeps this log's behaviour.
    public IPartitionedLog OpenSideReader() => this;

    public ILogRetention? Retention => null;

    public string? ConsumerGroup => null;

    public ValueTask DisposeAsync()
    {
        Release();
        return ValueTask.CompletedTask;
    }
}
