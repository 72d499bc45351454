using System.Collections.Concurrent;
using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Otlp.Json;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Gateway;
using ServerlessOtlp.Tests.Otlp;
using Xunit.Abstractions;
using GrpcStatusCode = Grpc.Core.StatusCode;

using ServerlessOtlp.Tests.Infrastructure;

namespace ServerlessOtlp.Tests.Reliability;

/// <summary>
/// Hostile input against the real gateway (Kestrel, in process, memory log): generated and
/// mutated OTLP over gRPC and HTTP (protobuf, JSON, gzip) — byte mutations, truncations, huge
/// varints, deep nesting, invalid UTF-8, invalid JSON, gzip bombs. Every answer must be one the
/// OTLP specification allows, nothing is logged as an error or unhandled, memory stays bounded
/// and the gateway still serves a valid request afterwards. Seeded: the seed is printed, and
/// <c>SERVERLESSOTLP_SEED</c> replays a run.
/// </summary>
[Collection(ReliabilityProcesses.Name)]
public sealed class HostileInputTests(ITestOutputHelper output)
{
    private const string Key = "hostile-key-0123456789abcdef";
    private const int MaxRequestBytes = 1024 * 1024;
    private const int MaxDecompressedBytes = 4 * 1024 * 1024;

    /// <summary>
    /// Room for the 4 concurrent requests at their worst (a 1 MiB body, 4 MiB inflated while its buffer doubles,
    /// the split), twice over, since one tenant may hold half: a budget refusal (UNAVAILABLE, retryable) is then
    /// not an answer these requests can get, and one here means a permanent condition answered as transient.
    /// The budget's own refusals are MemoryBudgetTests'. With the 64 MiB default, four gzip bombs at once
    /// occasionally met the tenant's share.
    /// </summary>
    internal const long HostileInFlightBudgetBytes = 256L * 1024 * 1024;

    private static readonly JsonParser StatusJson = new(JsonParser.Settings.Default.WithTypeRegistry(Google.Protobuf.Reflection.TypeRegistry.FromMessages(Google.Rpc.RetryInfo.Descriptor)));

    private static readonly HashSet<HttpStatusCode> AllowedHttp = [HttpStatusCode.OK, HttpStatusCode.BadRequest, HttpStatusCode.RequestEntityTooLarge, HttpStatusCode.UnsupportedMediaType];
    private static readonly HashSet<GrpcStatusCode> AllowedGrpc = [GrpcStatusCode.OK, GrpcStatusCode.InvalidArgument, GrpcStatusCode.ResourceExhausted];

    private enum Transport
    {
        HttpProtobuf,
        HttpJson,
        Grpc,
    }

    private sealed record Input(string Kind, Transport Transport, Signal Signal, byte[] Body, bool Gzip, string? ContentType = null);

    [Fact]
    public async Task Thousands_of_mutated_and_generated_requests_get_only_spec_answers_no_errors_bounded_memory_and_the_gateway_still_serves()
    {
        int count = Soak.Pick(2000, 10000);
        int seed = TestSeed.Pick(output);
        output.WriteLine(Soak.Note($"{count} hostile requests"));

        var tenants = new InMemoryTenantDirectory(new TenantFile { Tenants = [new TenantConfig { Id = "hostile", ApiKeys = [Key] }] });
        var log = new MemoryLog(8) { DiscardBodies = true };
        await using var gateway = await InProcessGateway.StartAsync(log, tenants, o =>
        {
            o.MaxRequestBytes = MaxRequestBytes;
            o.MaxDecompressedBytes = MaxDecompressedBytes;
            o.InFlightBudgetBytes = HostileInFlightBudgetBytes;
        });

        GC.Collect();
        GC.WaitForPendingFinalizers();
        long heapBefore = GC.GetTotalMemory(forceFullCollection: true);

        long peakHeap = 0;
        int sampled = 0;
        var violations = await SendHostileAsync(gateway.GrpcUri, gateway.HttpUri, count, seed, output, () =>
        {
            if (Interlocked.Increment(ref sampled) % 200 == 0)
            {
                InterlockedMax(ref peakHeap, GC.GetTotalMemory(false));
            }
        });

        GC.Collect();
        GC.WaitForPendingFinalizers();
        long heapAfter = GC.GetTotalMemory(forceFullCollection: true);
        output.WriteLine($"managed heap: before {heapBefore / 1048576.0:F1} MiB, peak sampled {peakHeap / 1048576.0:F1} MiB, after {heapAfter / 1048576.0:F1} MiB; gateway in-flight budget used {gateway.App.Services.GetRequiredService<ServerlessOtlp.Gateway.Ingest.IngestService>().Budget.Used} bytes");

        Assert.True(violations.IsEmpty, $"{violations.Count} answers outside the OTLP specification, e.g.:\n{string.Join("\n", violations.Take(10))}");
        var errors = gateway.Errors;
        Assert.True(errors.Count == 0, $"{errors.Count} error log entries, e.g.:\n{string.Join("\n", errors.Take(5))}");
        Assert.DoesNotContain(gateway.Logs.Entries, e => e.Message.Contains("unhandled", StringComparison.OrdinalIgnoreCase));
        // Generous: the process runs other tests too. Growth past it means the gateway keeps what it refused.
        Assert.True(heapAfter - heapBefore < 256L * 1024 * 1024, $"managed heap grew by {(heapAfter - heapBefore) / 1048576.0:F1} MiB");
        Assert.Equal(0, gateway.App.Services.GetRequiredService<ServerlessOtlp.Gateway.Ingest.IngestService>().Budget.Used);

        // Still serving: a valid request over each transport.
        await AssertStillServesAsync(gateway.GrpcUri, gateway.HttpUri, seed);
    }

    /// <summary>
    /// Sends <paramref name="count"/> generated and mutated requests (4 at a time) to a gateway with the
    /// hostile key; returns the answers outside the OTLP specification. Shared by the in-process run
    /// and the Native AOT binary's (<see cref="Gateway.NativeAotGatewayTests"/>), whose limits must be
    /// <see cref="MaxRequestBytes"/> and <see cref="MaxDecompressedBytes"/>.
    /// </summary>
    internal static async Task<ConcurrentQueue<string>> SendHostileAsync(Uri grpc, Uri httpUri, int count, int seed, ITestOutputHelper output, Action? afterEach = null)
    {
        var rnd = new Random(seed);
        // Generated as they are sent (one generator, in order: the seed replays the same inputs), not held all at once.
        int remaining = count;
        bool TryNext(out Input input)
        {
            lock (rnd)
            {
                input = remaining-- > 0 ? Generate(rnd) : null!;
                return input != null;
            }
        }

        var outcomes = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        var violations = new ConcurrentQueue<string>();
        using var http = new HttpClient { BaseAddress = httpUri, Timeout = TimeSpan.FromSeconds(30) };
        using var channel = GrpcChannel.ForAddress(grpc, new GrpcChannelOptions { MaxReceiveMessageSize = null, MaxSendMessageSize = null });
        using var gzipChannel = GrpcChannel.ForAddress(grpc, new GrpcChannelOptions { MaxReceiveMessageSize = null, MaxSendMessageSize = null, CompressionProviders = [new PrecompressedGzipProvider()] });

        var sw = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            while (TryNext(out var input))
            {
                string answer = await SendAsync(input, http, channel, gzipChannel, violations);
                outcomes.AddOrUpdate($"{input.Kind} via {input.Transport}{(input.Gzip ? "+gzip" : "")} → {answer}", 1, (_, n) => n + 1);
                afterEach?.Invoke();
            }
        })));

        output.WriteLine($"{count} requests in {sw.Elapsed.TotalSeconds:F1} s ({count / sw.Elapsed.TotalSeconds:F0}/s)");
        foreach (var (k, n) in outcomes.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            output.WriteLine($"  {n,6}  {k}");
        }

        return violations;
    }

    /// <summary>A valid request over each transport is still answered OK.</summary>
    internal static async Task AssertStillServesAsync(Uri grpc, Uri httpUri, int seed)
    {
        using var http = new HttpClient { BaseAddress = httpUri, Timeout = TimeSpan.FromSeconds(30) };
        using var channel = GrpcChannel.ForAddress(grpc);
        using var gzipChannel = GrpcChannel.ForAddress(grpc, new GrpcChannelOptions { CompressionProviders = [new PrecompressedGzipProvider()] });
        foreach (var transport in new[] { Transport.HttpProtobuf, Transport.HttpJson, Transport.Grpc })
        {
            var valid = new Input("valid", transport, Signal.Traces, Encode(transport, Signal.Traces, OtlpTestData.Traces(seed, 1, 1, 3, 0)), false);
            Assert.Contains(await SendAsync(valid, http, channel, gzipChannel, new ConcurrentQueue<string>()), new[] { "OK", "200" });
        }
    }

    internal const string HostileKey = Key;

    internal const int HostileMaxRequestBytes = MaxRequestBytes;

    internal const int HostileMaxDecompressedBytes = MaxDecompressedBytes;

    private static void InterlockedMax(ref long target, long value)
    {
        long seen;
        while (value > (seen = Interlocked.Read(ref target)) && Interlocked.CompareExchange(ref target, value, seen) != seen)
        {
        }
    }

    private static async Task<string> SendAsync(Input input, HttpClient http, GrpcChannel channel, GrpcChannel gzipChannel, ConcurrentQueue<string> violations)
    {
        if (input.Transport == Transport.Grpc)
        {
            var headers = new Metadata { { "x-api-key", Key } };
            if (input.Gzip)
            {
                headers.Add("grpc-internal-encoding-request", "gzip");
            }

            var method = input.Signal switch
            {
                Signal.Traces => Methods.Traces,
                Signal.Metrics => Methods.Metrics,
                _ => Methods.Logs,
            };
            try
            {
                await (input.Gzip ? gzipChannel : channel).CreateCallInvoker()
                    .AsyncUnaryCall(method, null, new CallOptions(headers, DateTime.UtcNow.AddSeconds(30)), input.Body).ResponseAsync;
                return "OK";
            }
            catch (RpcException ex)
            {
                if (!AllowedGrpc.Contains(ex.StatusCode))
                {
                    violations.Enqueue($"{input.Kind} via gRPC{(input.Gzip ? "+gzip" : "")} ({input.Body.Length} bytes): {ex.StatusCode} {ex.Status.Detail}");
                }

                return ex.StatusCode.ToString();
            }
        }

        var content = new ByteArrayContent(input.Body);
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(input.ContentType ?? (input.Transport == Transport.HttpJson ? "application/json" : "application/x-protobuf"));
        if (input.Gzip)
        {
            content.Headers.ContentEncoding.Add("gzip");
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/" + input.Signal.ToName()) { Content = content };
        request.Headers.Add("x-api-key", Key);
        string where = $"{input.Kind} via {input.Transport}{(input.Gzip ? "+gzip" : "")} ({input.Body.Length} bytes)";
        HttpResponseMessage response;
        bool oversized = input.Kind.StartsWith("oversized", StringComparison.Ordinal) && !input.Gzip;
        // An oversized body is answered 413 before it is read, and the connection closed: a connection of its own.
        using var own = oversized ? new HttpClient { BaseAddress = http.BaseAddress } : null;
        try
        {
            response = await (own ?? http).SendAsync(request);
        }
        catch (HttpRequestException ex) when (oversized && ex.InnerException is IOException)
        {
            // The 413 came while the client was still writing: it sees a broken pipe, as with any HTTP/1.1 server that refuses a body by its length.
            return "413 before the body was read (client still writing)";
        }
        catch (HttpRequestException ex)
        {
            violations.Enqueue($"{where}: no answer: {ex.Message} {ex.InnerException?.Message}");
            return "no answer";
        }

        using var disposeResponse = response;
        var body = await response.Content.ReadAsByteArrayAsync();
        if (!AllowedHttp.Contains(response.StatusCode))
        {
            violations.Enqueue($"{where}: HTTP {(int)response.StatusCode} {Encoding.UTF8.GetString(body.AsSpan(0, Math.Min(200, body.Length)))}");
        }
        else if (response.StatusCode != HttpStatusCode.OK)
        {
            // Every 4xx carries a google.rpc.Status in the request's encoding.
            bool json = response.Content.Headers.ContentType?.MediaType == "application/json";
            bool expectJson = (input.ContentType ?? (input.Transport == Transport.HttpJson ? "application/json" : "")).StartsWith("application/json", StringComparison.Ordinal);
            try
            {
                var status = json ? StatusJson.Parse<Google.Rpc.Status>(Encoding.UTF8.GetString(body)) : Google.Rpc.Status.Parser.ParseFrom(body);
                if (string.IsNullOrEmpty(status.Message) || json != expectJson)
                {
                    violations.Enqueue($"{where}: HTTP {(int)response.StatusCode} with {(json ? "JSON" : "protobuf")} status \"{status.Message}\"");
                }
            }
            catch (Exception ex) when (ex is InvalidProtocolBufferException or InvalidJsonException)
            {
                violations.Enqueue($"{where}: HTTP {(int)response.StatusCode} body is not a google.rpc.Status: {ex.Message}");
            }
        }

        return ((int)response.StatusCode).ToString();
    }

    private static class Methods
    {
        private static readonly Marshaller<byte[]> Raw = Marshallers.Create(b => b, b => b);

        public static readonly Method<byte[], byte[]> Traces = new(MethodType.Unary, "opentelemetry.proto.collector.trace.v1.TraceService", "Export", Raw, Raw);

        public static readonly Method<byte[], byte[]> Metrics = new(MethodType.Unary, "opentelemetry.proto.collector.metrics.v1.MetricsService", "Export", Raw, Raw);

        public static readonly Method<byte[], byte[]> Logs = new(MethodType.Unary, "opentelemetry.proto.collector.logs.v1.LogsService", "Export", Raw, Raw);
    }

    // ---- generators ----

    private static readonly Lazy<byte[]> SmallBomb = new(() => GzipBytes(new byte[MaxDecompressedBytes * 2]));

    private static IMessage Valid(Random rnd, Signal signal) => signal switch
    {
        Signal.Traces => OtlpTestData.Traces(rnd.Next(), rnd.Next(1, 3), rnd.Next(1, 3), rnd.Next(1, 12), rnd.NextDouble() < 0.2 ? 0.2 : 0),
        Signal.Metrics => OtlpTestData.Metrics(rnd.Next(), rnd.Next(1, 3), rnd.Next(1, 4), rnd.Next(1, 4)),
        _ => OtlpTestData.Logs(rnd.Next(), rnd.Next(1, 3), rnd.Next(1, 8)),
    };

    private static byte[] Encode(Transport transport, Signal signal, IMessage message) =>
        transport == Transport.HttpJson ? Encoding.UTF8.GetBytes(OtlpJson.Format(message)) : message.ToByteArray();

    private static Input Generate(Random rnd)
    {
        var transport = (Transport)rnd.Next(3);
        var signal = (Signal)rnd.Next(1, 4);
        byte[] valid = Encode(transport, signal, Valid(rnd, signal));
        bool gzip = rnd.Next(6) == 0;
        int kind = rnd.Next(14);
        (string name, byte[] body) = kind switch
        {
            0 => ("valid", valid),
            1 => ("flipped bytes", Flip(rnd, valid)),
            2 => ("truncated", valid[..rnd.Next(valid.Length)]),
            3 => ("inserted bytes", Insert(rnd, valid, RandomBytes(rnd, rnd.Next(1, 32)))),
            4 => ("deleted range", Delete(rnd, valid)),
            5 => ("huge varint", transport == Transport.HttpJson ? HugeJsonNumber(rnd, valid) : HugeVarint(rnd, valid)),
            6 => ("deep nesting", transport == Transport.HttpJson ? DeepJson(rnd, signal) : DeepAnyValue(rnd, signal)),
            7 => ("invalid UTF-8", transport == Transport.HttpJson ? Insert(rnd, valid, [0xC3, 0x28, 0xFF, 0xFE]) : InvalidUtf8(rnd, signal)),
            8 => ("random bytes", RandomBytes(rnd, rnd.Next(0, 4096))),
            9 => ("invalid JSON", InvalidJson(rnd, valid)),
            10 => ("wrong field types", transport == Transport.HttpJson ? WrongJsonTypes(rnd) : WrongWireTypes(rnd, valid)),
            11 => ("oversized", Oversized(rnd, transport, signal)),
            12 => ("gzip bomb", SmallBomb.Value),
            _ => ("corrupt gzip", Flip(rnd, GzipBytes(valid))),
        };

        if (kind is 12 or 13)
        {
            return new Input(name, transport, signal, body, Gzip: true);
        }

        if (gzip)
        {
            body = GzipBytes(body);
        }

        string? contentType = rnd.Next(40) switch
        {
            0 => "text/plain",
            1 => "application/json; charset=utf-8",
            2 => "application/x-protobuf; proto=bogus",
            _ => null,
        };
        return new Input(name + (contentType != null ? $" as {contentType}" : ""), transport, signal, body, gzip, transport == Transport.Grpc ? null : contentType);
    }

    private static byte[] RandomBytes(Random rnd, int n)
    {
        var b = new byte[n];
        rnd.NextBytes(b);
        return b;
    }

    private static byte[] Flip(Random rnd, byte[] data)
    {
        var copy = (byte[])data.Clone();
        if (copy.Length == 0)
        {
            return copy;
        }

        for (int i = rnd.Next(1, 8); i > 0; i--)
        {
            copy[rnd.Next(copy.Length)] ^= (byte)rnd.Next(1, 256);
        }

        return copy;
    }

    private static byte[] Insert(Random rnd, byte[] data, byte[] extra)
    {
        int at = rnd.Next(data.Length + 1);
        return [.. data[..at], .. extra, .. data[at..]];
    }

    private static byte[] Delete(Random rnd, byte[] data)
    {
        if (data.Length < 2)
        {
            return data;
        }

        int at = rnd.Next(data.Length - 1), len = rnd.Next(1, Math.Min(64, data.Length - at) + 1);
        return [.. data[..at], .. data[(at + len)..]];
    }

    /// <summary>A length-delimited field whose length is a 10-byte varint (up to 2^64−1), or an overlong varint.</summary>
    private static byte[] HugeVarint(Random rnd, byte[] valid)
    {
        byte[] varint = rnd.Next(3) switch
        {
            0 => [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
            1 => [0xFF, 0xFF, 0xFF, 0xFF, 0x07], // int.MaxValue
            _ => [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], // longer than 10 bytes
        };
        byte[] field = [0x0A, .. varint, .. RandomBytes(rnd, rnd.Next(0, 16))];
        return rnd.Next(2) == 0 ? [.. field, .. valid] : Insert(rnd, valid, field);
    }

    private static byte[] HugeJsonNumber(Random rnd, byte[] valid)
    {
        string json = Encoding.UTF8.GetString(valid);
        string huge = rnd.Next(2) == 0 ? "18446744073709551616000" : "1e999999";
        int at = json.IndexOf("Nano\":\"", StringComparison.Ordinal);
        return Encoding.UTF8.GetBytes(at < 0 ? json.Replace("{", $"{{\"droppedAttributesCount\":{huge},", StringComparison.Ordinal) : json[..(at + 6)] + huge + json[(at + 7)..]);
    }

    /// <summary>A request whose one attribute is an AnyValue kvlist nested <c>depth</c> deep, built on the wire (no recursion here).</summary>
    private static byte[] DeepAnyValue(Random rnd, Signal signal)
    {
        int depth = new[] { 50, 99, 100, 101, 200, 1000, 3000 }[rnd.Next(7)];
        // AnyValue{string_value:"x"}
        byte[] value = [0x0A, 0x01, (byte)'x'];
        for (int i = 0; i < depth; i++)
        {
            byte[] keyValue = [0x0A, 0x01, (byte)'k', .. Field(2, value)]; // KeyValue{key:"k", value}
            byte[] kvlist = Field(1, keyValue); // KeyValueList{values}
            value = Field(6, kvlist); // AnyValue{kvlist_value}
        }

        byte[] attribute = [0x0A, 0x01, (byte)'a', .. Field(2, value)];
        var traceId = RandomBytes(rnd, 16);
        traceId[0] |= 1;
        return signal switch
        {
            // ResourceSpans{scope_spans{spans{trace_id, span_id, name, attributes}}}
            Signal.Traces => Field(1, Field(2, Field(2, [.. Field(1, traceId), .. Field(2, RandomBytes(rnd, 8)), .. Field(5, "deep"u8.ToArray()), .. Field(9, attribute)]))),
            // ResourceLogs{scope_logs{log_records{body}}}
            Signal.Logs => Field(1, Field(2, Field(2, Field(5, value)))),
            // ResourceMetrics{resource{attributes}}
            _ => Field(1, Field(1, Field(1, attribute))),
        };
    }

    private static byte[] DeepJson(Random rnd, Signal signal)
    {
        int depth = new[] { 50, 127, 128, 129, 1000, 20000 }[rnd.Next(6)];
        string name = signal == Signal.Traces ? "resourceSpans" : signal == Signal.Logs ? "resourceLogs" : "resourceMetrics";
        if (rnd.Next(2) == 0)
        {
            return Encoding.UTF8.GetBytes($"{{\"{name}\":{new string('[', depth)}{new string(']', depth)}}}");
        }

        string open = string.Concat(Enumerable.Repeat("{\"kvlistValue\":{\"values\":[{\"key\":\"k\",\"value\":", depth));
        string close = string.Concat(Enumerable.Repeat("}]}}", depth));
        return Encoding.UTF8.GetBytes($"{{\"{name}\":[{{\"resource\":{{\"attributes\":[{{\"key\":\"a\",\"value\":{open}{{\"stringValue\":\"x\"}}{close}}}]}}}}]}}");
    }

    private static byte[] InvalidUtf8(Random rnd, Signal signal)
    {
        byte[] bad = [0xC3, 0x28, 0xA0, 0xA1, 0xE2, 0x28, 0xA1, 0xF0, 0x28, 0x8C, 0xBC, 0xFF, 0xFE];
        byte[] attribute = [.. Field(1, bad), .. Field(2, Field(1, bad))]; // KeyValue{key: bad, value: {string_value: bad}}
        var traceId = RandomBytes(rnd, 16);
        traceId[0] |= 1;
        return signal switch
        {
            Signal.Traces => Field(1, [.. Field(1, Field(1, attribute)), .. Field(2, Field(2, [.. Field(1, traceId), .. Field(2, RandomBytes(rnd, 8)), .. Field(5, bad), .. Field(9, attribute)]))]),
            Signal.Logs => Field(1, Field(2, Field(2, [.. Field(5, Field(1, bad)), .. Field(6, attribute)]))),
            _ => Field(1, [.. Field(1, Field(1, attribute)), .. Field(2, Field(2, Field(1, bad)))]),
        };
    }

    private static byte[] InvalidJson(Random rnd, byte[] valid)
    {
        string json = Encoding.UTF8.GetString(valid);
        return rnd.Next(8) switch
        {
            0 => Encoding.UTF8.GetBytes(json[..rnd.Next(json.Length)]),
            1 => Encoding.UTF8.GetBytes(json.Replace("\"", "", StringComparison.Ordinal)),
            2 => Encoding.UTF8.GetBytes(json.Replace(":", "::", StringComparison.Ordinal)),
            3 => "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"zz\",\"spanId\":\"not-hex\"}]}]}]}"u8.ToArray(),
            4 => "{\"resourceSpans\":\"\\uD800\\uDFFF\\uDC00\"}"u8.ToArray(),
            5 => Encoding.UTF8.GetBytes("{" + new string('"', rnd.Next(1, 2000))),
            6 => "null"u8.ToArray(),
            _ => Flip(rnd, valid),
        };
    }

    private static byte[] WrongJsonTypes(Random rnd) => rnd.Next(5) switch
    {
        0 => "{\"resourceSpans\":{}}"u8.ToArray(),
        1 => "{\"resourceSpans\":[1,2,3]}"u8.ToArray(),
        2 => "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"timeUnixNano\":-1,\"severityNumber\":\"NOPE\"}]}]}]}"u8.ToArray(),
        3 => "[]"u8.ToArray(),
        _ => "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"gauge\":{\"dataPoints\":[{\"asDouble\":\"NaN\"},{\"asInt\":\"9223372036854775808\"}]}}]}]}]}"u8.ToArray(),
    };

    /// <summary>The same field numbers with other wire types (fixed64 where a message is expected, a group start, …).</summary>
    private static byte[] WrongWireTypes(Random rnd, byte[] valid) => rnd.Next(4) switch
    {
        0 => [0x09, .. RandomBytes(rnd, 8), .. valid], // field 1 as fixed64
        1 => [0x0B, .. valid], // field 1 as a group start, never ended
        2 => [0x0F, .. valid], // wire type 7 (invalid)
        _ => [0x00, .. valid], // field number 0
    };

    private static byte[] Oversized(Random rnd, Transport transport, Signal signal)
    {
        int target = MaxRequestBytes + rnd.Next(1, 256 * 1024);
        var message = Valid(rnd, signal);
        var one = Encode(transport, signal, message);
        if (transport == Transport.HttpJson)
        {
            // Valid JSON padded with whitespace past the limit.
            return [.. one, .. Enumerable.Repeat((byte)' ', target - one.Length)];
        }

        // Concatenated requests are a valid request.
        var list = new List<byte>(target + one.Length);
        while (list.Count < target)
        {
            list.AddRange(one);
        }

        return [.. list];
    }

    private static byte[] Field(int number, byte[] payload)
    {
        var result = new List<byte>(payload.Length + 6);
        uint tag = (uint)(number << 3) | 2;
        WriteVarint(result, tag);
        WriteVarint(result, (uint)payload.Length);
        result.AddRange(payload);
        return [.. result];
    }

    private static void WriteVarint(List<byte> to, uint value)
    {
        while (value >= 0x80)
        {
            to.Add((byte)(value | 0x80));
            value >>= 7;
        }

        to.Add((byte)value);
    }

    private static byte[] GzipBytes(byte[] data)
    {
        var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true))
        {
            gz.Write(data);
        }

        return ms.ToArray();
    }
}
