using System.Security.Cryptography;
using Google.Protobuf;
using Google.Rpc;
using Grpc.Core;
using Grpc.Net.Client;
using OpenTelemetry.Proto.Collector.Trace.V1;
using OpenTelemetry.Proto.Common.V1;
using OpenTelemetry.Proto.Resource.V1;
using OpenTelemetry.Proto.Trace.V1;
using GrpcStatusCode = Grpc.Core.StatusCode;

namespace ServerlessOtlp.Tests.Reliability;

/// <summary>
/// An OTLP/gRPC trace client for the reliability tests, on raw bytes: every span carries a unique
/// <see cref="LossChecker.IdAttribute"/>; retryable answers (UNAVAILABLE, RESOURCE_EXHAUSTED with
/// RetryInfo, no answer at all) are retried as an SDK would, until an answer or
/// <see cref="GiveUpAfter"/>; everything is recorded in the <see cref="LossChecker"/>.
/// </summary>
public sealed class RetryingClient : IDisposable
{
    private static readonly Marshaller<byte[]> Raw = Marshallers.Create(b => b, b => b);
    private static readonly Method<byte[], byte[]> TraceExport = new(MethodType.Unary, "opentelemetry.proto.collector.trace.v1.TraceService", "Export", Raw, Raw);

    private readonly GrpcChannel _channel;
    private readonly string _key;
    private readonly LossChecker _checker;
    private readonly string _prefix;
    private long _next;
    private long _requests;
    private long _attempts;

    public RetryingClient(Uri endpoint, string key, LossChecker checker, string? prefix = null)
    {
        _channel = GrpcChannel.ForAddress(endpoint, new GrpcChannelOptions { MaxReceiveMessageSize = null, MaxSendMessageSize = null });
        _key = key;
        _checker = checker;
        _prefix = prefix ?? Guid.NewGuid().ToString("N")[..8];
    }

    public TimeSpan GiveUpAfter { get; init; } = TimeSpan.FromSeconds(120);

    public TimeSpan CallDeadline { get; init; } = TimeSpan.FromSeconds(20);

    public long Requests => Interlocked.Read(ref _requests);

    public long Attempts => Interlocked.Read(ref _attempts);

    /// <summary>Extra request headers (e.g. a foreign <c>X-Scope-OrgID</c>).</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();

    /// <summary>Extra resource attributes (e.g. a foreign tenant claim).</summary>
    public IReadOnlyList<KeyValue> ResourceAttributes { get; init; } = [];

    /// <summary>A request with <paramref name="spans"/> uniquely identified spans (and <paramref name="invalid"/> spans with an all-zero trace id, which the gateway rejects).</summary>
    public (ExportTraceServiceRequest Request, List<string> Valid, List<string> Invalid) Build(int spans, int invalid = 0)
    {
        var scope = new ScopeSpans { Scope = new InstrumentationScope { Name = "reliability" } };
        var valid = new List<string>(spans);
        var bad = new List<string>(invalid);
        ulong now = (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000UL;
        for (int i = 0; i < spans + invalid; i++)
        {
            string id = $"{_prefix}-{Interlocked.Increment(ref _next)}";
            var traceId = i < spans ? RandomNumberGenerator.GetBytes(16) : new byte[16];
            if (i < spans)
            {
                traceId[0] |= 1;
                valid.Add(id);
            }
            else
            {
                bad.Add(id);
            }

            var spanId = RandomNumberGenerator.GetBytes(8);
            spanId[0] |= 1;
            var span = new Span
            {
                TraceId = ByteString.CopyFrom(traceId),
                SpanId = ByteString.CopyFrom(spanId),
                Name = "reliability-op",
                Kind = Span.Types.SpanKind.Server,
                StartTimeUnixNano = now,
                EndTimeUnixNano = now + 1_000_000,
            };
            span.Attributes.Add(new KeyValue { Key = LossChecker.IdAttribute, Value = new AnyValue { StringValue = id } });
            scope.Spans.Add(span);
        }

        var resource = new Resource();
        resource.Attributes.Add(new KeyValue { Key = "service.name", Value = new AnyValue { StringValue = "reliability" } });
        resource.Attributes.Add(ResourceAttributes);
        return (new ExportTraceServiceRequest { ResourceSpans = { new ResourceSpans { Resource = resource, ScopeSpans = { scope } } } }, valid, bad);
    }

    /// <summary>Sends one request until it is answered for good (or the client gives up). Returns the final status code.</summary>
    public async Task<GrpcStatusCode?> SendAsync(int spans, int invalid = 0)
    {
        var (request, valid, bad) = Build(spans, invalid);
        _checker.Sent(valid.Concat(bad));
        Interlocked.Increment(ref _requests);
        var payload = request.ToByteArray();
        var giveUp = DateTime.UtcNow + GiveUpAfter;
        var headers = new Metadata { { "x-api-key", _key } };
        foreach (var (k, v) in Headers)
        {
            headers.Add(k, v);
        }

        var delay = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            Interlocked.Increment(ref _attempts);
            try
            {
                var answer = await _channel.CreateCallInvoker().AsyncUnaryCall(TraceExport, null, new CallOptions(headers, DateTime.UtcNow + CallDeadline), payload);
                var response = ExportTraceServiceResponse.Parser.ParseFrom(answer);
                long rejected = response.PartialSuccess?.RejectedSpans ?? 0;
                if (rejected != bad.Count)
                {
                    throw new InvalidOperationException($"the gateway rejected {rejected} spans; {bad.Count} were invalid");
                }

                _checker.Accepted(valid);
                _checker.RejectedPermanently(bad);
                return GrpcStatusCode.OK;
            }
            catch (RpcException ex) when (!Retryable(ex, out _))
            {
                _checker.RejectedPermanently(valid.Concat(bad));
                return ex.StatusCode;
            }
            catch (RpcException ex)
            {
                Retryable(ex, out var retryAfter);
                _checker.Retrying(valid.Count);
                if (DateTime.UtcNow > giveUp)
                {
                    return null; // stays pending: the checker reports it as never answered
                }

                // RetryInfo is honoured, capped so the tests stay short; otherwise exponential backoff.
                var wait = retryAfter is { } r && r > TimeSpan.Zero ? TimeSpan.FromMilliseconds(Math.Min(r.TotalMilliseconds, 1000)) : delay;
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 1000));
                await Task.Delay(wait);
            }
        }
    }

    /// <summary>The OTLP specification's retryable codes; RESOURCE_EXHAUSTED only with RetryInfo. No answer at all (the server died) is retried too.</summary>
    public static bool Retryable(RpcException ex, out TimeSpan? retryAfter)
    {
        var info = ex.GetRpcStatus()?.GetDetail<RetryInfo>();
        retryAfter = info?.RetryDelay?.ToTimeSpan();
        return ex.StatusCode switch
        {
            GrpcStatusCode.Unavailable or GrpcStatusCode.DeadlineExceeded or GrpcStatusCode.Cancelled or GrpcStatusCode.Aborted
                or GrpcStatusCode.OutOfRange or GrpcStatusCode.DataLoss => true,
            GrpcStatusCode.ResourceExhausted => info != null,
            _ => false,
        };
    }

    /// <summary>
    /// <paramref name="loops"/> concurrent senders, each sending a request of <paramref name="spans"/> spans
    /// and pausing <paramref name="pause"/>, until <paramref name="stop"/>; a request in progress is
    /// finished (retried to an answer) after the stop.
    /// </summary>
    public Task RunAsync(int loops, int spans, TimeSpan pause, CancellationToken stop) =>
        Task.WhenAll(Enumerable.Range(0, loops).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await SendAsync(spans);
                try
                {
                    await Task.Delay(pause, stop);
                }
                catch (OperationCanceledException)
                {
                }
            }
        })));

    public void Dispose() => _channel.Dispose();
}
