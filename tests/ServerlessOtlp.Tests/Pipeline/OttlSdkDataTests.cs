using System.Diagnostics;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Proto.Collector.Trace.V1;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Pipeline;
using ServerlessOtlp.Tests.Export;
using static ServerlessOtlp.Tests.Pipeline.OttlTestData;

namespace ServerlessOtlp.Tests.Pipeline;

/// <summary>The pipeline on spans the OpenTelemetry .NET SDK really exported (OTLP/HTTP protobuf, captured and decoded).</summary>
public class OttlSdkDataTests
{
    [Fact]
    public async Task Transforms_and_filters_work_on_spans_exported_by_the_sdk()
    {
        await using var receiver = await CapturingHttpReceiver.StartAsync();
        receiver.Answer = _ => (200, "", null);
        using var source = new ActivitySource("Shop.Checkout", "2.1.0");
        using (var provider = Sdk.CreateTracerProviderBuilder()
                   .AddSource(source.Name)
                   .SetSampler(new AlwaysOnSampler())
                   .SetResourceBuilder(ResourceBuilder.CreateDefault().AddService("checkout").AddAttributes([new("deployment.environment", "prod")]))
                   .AddOtlpExporter(o =>
                   {
                       o.Protocol = OtlpExportProtocol.HttpProtobuf;
                       o.Endpoint = new Uri(receiver.Uri, "/v1/traces");
                   })
                   .Build())
        {
            using (var health = source.StartActivity("GET /health", ActivityKind.Server)!)
            {
                health.SetTag("http.request.method", "GET");
                health.SetTag("url.path", "/health");
                health.SetTag("http.response.status_code", 200);
            }

            using (var order = source.StartActivity("POST /orders", ActivityKind.Server)!)
            {
                order.SetTag("http.request.method", "POST");
                order.SetTag("url.path", "/orders/12345");
                order.SetTag("http.response.status_code", 500);
                order.SetTag("enduser.id", "jane");
                order.SetStatus(ActivityStatusCode.Error, "boom");
                order.AddEvent(new ActivityEvent("exception", tags: new ActivityTagsCollection { ["exception.message"] = "out of stock" }));
            }

            Assert.True(provider.ForceFlush(15_000));
        }

        var captured = Assert.Single(receiver.Requests, r => r.Path == "/v1/traces");
        var request = ExportTraceServiceRequest.Parser.ParseFrom(captured.Body);
        var tenant = Tenant(Signal.Traces,
            transforms:
            [
                "set(span.attributes[\"sdk\"], Concat([resource.attributes[\"telemetry.sdk.name\"], resource.attributes[\"telemetry.sdk.language\"]], \"/\"))",
                "set(span.attributes[\"enduser.id\"], SHA256(span.attributes[\"enduser.id\"])) where IsString(span.attributes[\"enduser.id\"])",
                "replace_pattern(span.attributes[\"url.path\"], \"/\\\\d+\", \"/{id}\")",
                "set(span.attributes[\"scope\"], Concat([scope.name, scope.version], \"@\"))",
                "set(spanevent.attributes[\"span.status\"], span.status.message) where spanevent.name == \"exception\"",
            ],
            filters: ["span.attributes[\"url.path\"] == \"/health\" and span.kind == SPAN_KIND_SERVER"]);

        var result = new TenantTransformer().Apply(tenant, Signal.Traces, request);

        Assert.Equal(new TransformResult(2, 1, 1, 0, 0, null), result);
        var span = Assert.Single(Spans(request));
        Assert.Equal("checkout", Attr(request.ResourceSpans[0].Resource.Attributes, "service.name")!.StringValue);
        Assert.Equal("opentelemetry/dotnet", Attr(span.Attributes, "sdk")!.StringValue);
        Assert.Equal("/orders/{id}", Attr(span.Attributes, "url.path")!.StringValue);
        Assert.Equal(64, Attr(span.Attributes, "enduser.id")!.StringValue.Length);
        Assert.Equal("Shop.Checkout@2.1.0", Attr(span.Attributes, "scope")!.StringValue);
        Assert.Equal("boom", Attr(Assert.Single(span.Events).Attributes, "span.status")!.StringValue);
        Assert.Equal(500, Attr(span.Attributes, "http.response.status_code")!.IntValue);
    }
}
