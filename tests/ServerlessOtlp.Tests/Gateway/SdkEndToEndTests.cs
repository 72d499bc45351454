using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Diagnostics.Tracing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Proto.Collector.Logs.V1;
using OpenTelemetry.Proto.Collector.Metrics.V1;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Otlp.Wire;

namespace ServerlessOtlp.Tests.Gateway;

/// <summary>
/// The OpenTelemetry .NET SDK's OTLP exporter, an encoder and client we did not write, sends
/// traces, metrics and logs over gRPC and over HTTP/protobuf to the running gateway; every item
/// must be found in the log, in the partition the partition function names, with the tenant of
/// the key (never of an X-Scope-OrgID header or a "tenant" resource attribute).
/// </summary>
public sealed class SdkEndToEndTests(GatewayFixture fixture) : IClassFixture<GatewayFixture>
{
    private const int Partitions = 8;

    public static TheoryData<OtlpExportProtocol, string, string> Protocols => new()
    {
        { OtlpExportProtocol.Grpc, TestGateway.AcmeKey, "acme" },
        { OtlpExportProtocol.HttpProtobuf, TestGateway.GlobexKey, "globex" },
    };

    private TestGateway Gateway => fixture.Gateway;

    private void Configure(OtlpExporterOptions o, OtlpExportProtocol protocol, string key, string signalPath)
    {
        o.Protocol = protocol;
        // Set in code, the HTTP endpoint is used as it is: the signal's path must be included.
        o.Endpoint = protocol == OtlpExportProtocol.Grpc ? Gateway.GrpcUri : new Uri(Gateway.HttpUri, signalPath);
        o.Headers = $"x-api-key={key},X-Scope-OrgID=other";
        o.TimeoutMilliseconds = 10_000;
    }

    private static ResourceBuilder Resource(string run) => ResourceBuilder.CreateEmpty()
        .AddService("e2e-" + run)
        .AddAttributes([new("tenant", "other"), new("e2e.run", run)]);

    [Theory]
    [MemberData(nameof(Protocols))]
    public void Traces_from_the_SDK_land_in_the_partition_of_their_trace_id_with_the_key_tenant(OtlpExportProtocol protocol, string key, string tenant)
    {
        using var errors = new ExporterErrors();
        string run = Guid.NewGuid().ToString("N");
        using var source = new ActivitySource("e2e-" + run);
        using (var provider = Sdk.CreateTracerProviderBuilder()
                   .AddSource(source.Name)
                   .SetSampler(new AlwaysOnSampler())
                   .SetResourceBuilder(Resource(run))
                   .AddOtlpExporter(o => Configure(o, protocol, key, "/v1/traces"))
                   .Build())
        {
            const int traces = 40, spansPerTrace = 10;
            var traceIds = new HashSet<ActivityTraceId>();
            for (int t = 0; t < traces; t++)
            {
                using var root = source.StartActivity("root", ActivityKind.Server, parentContext: default)!;
                root.SetTag("uid", $"{t}-0");
                traceIds.Add(root.TraceId);
                for (int s = 1; s < spansPerTrace; s++)
                {
                    using var child = source.StartActivity("child")!;
                    child.SetTag("uid", $"{t}-{s}");
                }
            }

            Assert.Equal(traces, traceIds.Count);
            Assert.True(provider.ForceFlush(15_000), "ForceFlush timed out");

            var found = Eventually(
                () => Gateway.Spans().Where(x => x.Resource.Attributes.Any(a => a.Key == "e2e.run" && a.Value.StringValue == run)).ToList(),
                list => list.Count >= traces * spansPerTrace);
            var uids = found.Select(x => x.Span.Attributes.Single(a => a.Key == "uid").Value.StringValue).ToList();
            Assert.True(uids.Count == traces * spansPerTrace, $"found {uids.Count} of {traces * spansPerTrace} spans; exporter errors: {errors}");
            Assert.Equal(uids.Count, uids.Distinct().Count());
            Assert.Equal(traces, found.Select(x => x.Span.TraceId).Distinct().Count());
            Assert.True(found.Select(x => x.Partition).Distinct().Count() > 1, "40 traces should spread over several of 8 partitions");
            foreach (var (partition, spanTenant, resource, span) in found)
            {
                Assert.Equal(PartitionFunction.ForTraceId(span.TraceId.Span, Partitions), partition);
                Assert.Equal(tenant, spanTenant);
                // The resource travels untouched, "tenant" attribute included; it decides nothing.
                Assert.Contains(resource.Attributes, a => a.Key == "tenant" && a.Value.StringValue == "other");
            }
        }

        Assert.DoesNotContain(Gateway.Events(Signal.Traces), e => e.Properties.Tenant == "other");
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public void Metrics_from_the_SDK_land_in_the_partition_of_their_resource_with_the_key_tenant(OtlpExportProtocol protocol, string key, string tenant)
    {
        using var errors = new ExporterErrors();
        string run = Guid.NewGuid().ToString("N");
        using var meter = new Meter("e2e-" + run);
        using (var provider = Sdk.CreateMeterProviderBuilder()
                   .AddMeter(meter.Name)
                   .SetResourceBuilder(Resource(run))
                   .AddOtlpExporter((o, reader) =>
                   {
                       Configure(o, protocol, key, "/v1/metrics");
                       reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = 600_000;
                   })
                   .Build())
        {
            var counter = meter.CreateCounter<long>("e2e.requests");
            var histogram = meter.CreateHistogram<double>("e2e.latency", "ms");
            const int records = 50, routes = 5;
            for (int i = 0; i < records; i++)
            {
                var route = new KeyValuePair<string, object?>("route", "/r" + (i % routes));
                counter.Add(2, route);
                histogram.Record(i, route);
            }

            Assert.True(provider.ForceFlush(15_000), "ForceFlush timed out");

            var found = Eventually(
                () => Gateway.Events(Signal.Metrics)
                    .SelectMany(e => ExportMetricsServiceRequest.Parser.ParseFrom(e.Body).ResourceMetrics
                        .Where(rm => rm.Resource.Attributes.Any(a => a.Key == "e2e.run" && a.Value.StringValue == run))
                        .Select(rm => (e.Partition, e.Properties.Tenant, Resource: rm)))
                    .ToList(),
                list => list.Count > 0);

            Assert.True(found.Count > 0, $"no metrics found; exporter errors: {errors}");
            var metrics = found.SelectMany(f => f.Resource.ScopeMetrics).SelectMany(s => s.Metrics).ToList();
            var sum = metrics.Where(m => m.Name == "e2e.requests").SelectMany(m => m.Sum.DataPoints).ToList();
            Assert.Equal(routes, sum.Count);
            Assert.Equal(2 * records, sum.Sum(p => p.AsInt));
            var histogramPoints = metrics.Where(m => m.Name == "e2e.latency").SelectMany(m => m.Histogram.DataPoints).ToList();
            Assert.Equal(routes, histogramPoints.Count);
            Assert.Equal((ulong)records, histogramPoints.Aggregate(0UL, (n, p) => n + p.Count));
            Assert.Equal(Enumerable.Range(0, records).Sum(), histogramPoints.Sum(p => p.Sum));
            foreach (var (partition, metricTenant, rm) in found)
            {
                Assert.Equal(tenant, metricTenant);
                Assert.Equal(PartitionFunction.ForResourceHash(ResourceIdentity.Hash(Google.Protobuf.MessageExtensions.ToByteArray(rm.Resource)), Partitions), partition);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public void Logs_from_ILogger_land_by_trace_id_or_resource_with_the_key_tenant(OtlpExportProtocol protocol, string key, string tenant)
    {
        using var errors = new ExporterErrors();
        string run = Guid.NewGuid().ToString("N");
        var services = new ServiceCollection();
        services.AddLogging(b => b.AddOpenTelemetry(o =>
        {
            o.SetResourceBuilder(Resource(run));
            o.AddOtlpExporter(e => Configure(e, protocol, key, "/v1/logs"));
        }));
        const int records = 30;
        using (var sp = services.BuildServiceProvider())
        {
            var logger = sp.GetRequiredService<ILoggerFactory>().CreateLogger("e2e");
            for (int i = 0; i < records; i++)
            {
                if (i % 2 == 0)
                {
                    // A log record inside a span carries its trace id and is partitioned by it.
                    using var activity = new Activity("op").SetIdFormat(ActivityIdFormat.W3C).Start();
                    logger.LogInformation("record {Uid}", i);
                }
                else
                {
                    logger.LogWarning("record {Uid}", i);
                }
            }

            Assert.True(sp.GetRequiredService<LoggerProvider>().ForceFlush(15_000), "ForceFlush timed out");
        }

        Eventually(() => LogUids(run).Count, n => n >= records);
        var seen = new List<long>();
        int withTrace = 0;
        foreach (var (partition, props, body) in Gateway.Events(Signal.Logs))
        {
            foreach (var rl in ExportLogsServiceRequest.Parser.ParseFrom(body).ResourceLogs)
            {
                if (!rl.Resource.Attributes.Any(a => a.Key == "e2e.run" && a.Value.StringValue == run))
                {
                    continue;
                }

                Assert.Equal(tenant, props.Tenant);
                foreach (var record in rl.ScopeLogs.SelectMany(s => s.LogRecords))
                {
                    var uid = record.Attributes.Single(a => a.Key == "Uid").Value.IntValue;
                    seen.Add(uid);
                    if (PartitionFunction.IsValidTraceId(record.TraceId.Span))
                    {
                        withTrace++;
                        Assert.Equal(PartitionFunction.ForTraceId(record.TraceId.Span, Partitions), partition);
                    }
                    else
                    {
                        Assert.Equal(PartitionFunction.ForResourceHash(ResourceIdentity.Hash(Google.Protobuf.MessageExtensions.ToByteArray(rl.Resource)), Partitions), partition);
                    }
                }
            }
        }

        Assert.True(seen.Count == records, $"found {seen.Count} of {records} log records; exporter errors: {errors}");
        Assert.Equal(Enumerable.Range(0, records).Select(i => (long)i), seen.Order());
        Assert.Equal(records / 2, withTrace);
    }

    private List<long> LogUids(string run) =>
        Gateway.Events(Signal.Logs)
            .SelectMany(e => ExportLogsServiceRequest.Parser.ParseFrom(e.Body).ResourceLogs)
            .Where(rl => rl.Resource.Attributes.Any(a => a.Key == "e2e.run" && a.Value.StringValue == run))
            .SelectMany(rl => rl.ScopeLogs.SelectMany(s => s.LogRecords))
            .Select(r => r.Attributes.Single(a => a.Key == "Uid").Value.IntValue)
            .ToList();

    /// <summary>
    /// The SDK's batch processor may report a flush complete once the items left its queue, before
    /// the export call returned; the gateway answers only when the data is in the log, so wait for it.
    /// </summary>
    private static T Eventually<T>(Func<T> read, Func<T, bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            var value = read();
            if (done(value) || DateTime.UtcNow > deadline)
            {
                return value;
            }

            Thread.Sleep(50);
        }
    }

    /// <summary>Collects the OTLP exporter's warnings and errors, for failure messages.</summary>
    private sealed class ExporterErrors : EventListener
    {
        private readonly ConcurrentQueue<string> _messages = new();

        protected override void OnEventSourceCreated(EventSource eventSource)
        {
            if (eventSource.Name.StartsWith("OpenTelemetry-Exporter-OpenTelemetryProtocol", StringComparison.Ordinal))
            {
                EnableEvents(eventSource, EventLevel.Warning);
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs eventData) =>
            _messages.Enqueue($"{eventData.EventName}: {string.Join(", ", eventData.Payload ?? [])}");

        public override string ToString() => _messages.IsEmpty ? "(none)" : string.Join(" | ", _messages);
    }
}
