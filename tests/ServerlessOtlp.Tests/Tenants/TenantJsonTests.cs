using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using ServerlessOtlp.Export.Files;
using ServerlessOtlp.Export.Loki;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Tests.Tenants;

/// <summary>The tenant JSON metadata is source-generated (the gateway runs as Native AOT); these guard what that needs by hand.</summary>
public sealed class TenantJsonTests
{
    [Fact]
    public void Every_enum_of_the_tenant_model_is_written_and_read_by_name()
    {
        var enums = new HashSet<Type>();
        Walk(typeof(TenantFile), new HashSet<Type>(), enums);
        Assert.Contains(typeof(ServerlessOtlp.Otlp.Signal), enums);
        foreach (var type in enums)
        {
            var info = TenantJson.Options.GetTypeInfo(type);
            foreach (object value in Enum.GetValuesAsUnderlyingType(type))
            {
                var element = JsonSerializer.SerializeToElement(Enum.ToObject(type, value), info);
                Assert.True(element.ValueKind == JsonValueKind.String, $"{type.Name} {value} is written as {element.GetRawText()}");
                Assert.Equal(Enum.ToObject(type, value), JsonSerializer.Deserialize(element, info));
            }
        }
    }

    [Fact]
    public void Absent_fields_keep_their_defaults()
    {
        var config = TenantJson.DeserializeStored("""{ "id": "a", "destinations": [ { "name": "f", "kind": "file", "path": "x" } ], "sampling": { "traces": { "samplingPercentage": 5 } } }""");
        Assert.Empty(config.Redaction);
        Assert.Equal(TransformErrorMode.Propagate, config.TransformErrorMode);
        Assert.Equal(SamplingMode.Proportional, config.Sampling!.Traces!.Mode);
        Assert.Equal(TraceSamplingConfig.DefaultPrecision, config.Sampling.Traces.Precision);
        var destination = Assert.Single(config.Destinations);
        Assert.Empty(destination.Signals);
        Assert.Empty(destination.Headers);
        Assert.Equal("x", Assert.IsType<FileSettings>(destination.Settings).Path);
    }

    /// <summary>
    /// Configs stored before destination kinds became factories (kind an enum, every kind's fields on
    /// <see cref="DestinationConfig"/>), exactly as that code wrote them: they load with their kinds'
    /// settings, and storing them again writes the same fields.
    /// </summary>
    [Theory]
    [InlineData("""{"id":"acme","transformErrorMode":"propagate","destinations":[{"name":"files","kind":"file","signals":["traces","metrics","logs"],"path":"acme/out"}]}""")]
    [InlineData("""{"id":"acme","transformErrorMode":"propagate","destinations":[{"name":"loki","kind":"loki","signals":["logs"],"endpoint":"https://loki.example.com","headers":{"X-Scope-OrgID":"acme"},"timeout":"5s","encoding":"json","lokiLabels":["service.name","k8s.pod.name"]}]}""")]
    [InlineData("""{"id":"acme","transformErrorMode":"propagate","destinations":[{"name":"tempo","kind":"otlphttp","signals":["traces"],"endpoint":"https://tempo.example.com","when":"resource.attributes[\"env\"] == \"prod\"","retry":{"maxElapsed":"1m"},"batch":{"maxItems":100},"compression":"gzip","encoding":"json"}]}""")]
    [InlineData("""{"id":"acme","transformErrorMode":"propagate","destinations":[{"name":"prom","kind":"prometheusremotewrite","signals":["metrics"],"endpoint":"https://prom.example.com/api/v1/write"},{"name":"grpc","kind":"otlp","signals":["traces","logs"],"endpoint":"https://otlp.example.com:4317"}]}""")]
    public void Configs_stored_by_earlier_builds_load_and_store_the_same(string stored)
    {
        var config = TenantJson.DeserializeStored(stored);
        foreach (var destination in config.Destinations)
        {
            var kind = ServerlessOtlp.Export.DestinationKinds.Find(destination.Kind);
            Assert.NotNull(kind);
            Assert.Equal(kind.SettingsJson is null ? null : kind.SettingsJson.Type, destination.Settings?.GetType());
        }

        Assert.True(
            JsonNode.DeepEquals(JsonNode.Parse(stored), JsonNode.Parse(TenantJson.SerializeForStore(config))),
            TenantJson.SerializeForStore(config));
    }

    [Fact]
    public void A_stored_config_reads_its_kinds_fields_into_typed_settings()
    {
        var config = TenantJson.DeserializeStored("""{"id":"acme","transformErrorMode":"propagate","destinations":[{"name":"loki","kind":"loki","endpoint":"https://loki.example.com","encoding":"json","lokiLabels":["service.name"]},{"name":"f","kind":"file","path":"out"}]}""");
        var loki = Assert.IsType<LokiSettings>(config.Destinations[0].Settings);
        Assert.Equal(DestinationEncoding.Json, loki.Encoding);
        Assert.Equal(["service.name"], loki.Labels);
        Assert.Equal("out", Assert.IsType<FileSettings>(config.Destinations[1].Settings).Path);
    }

    [Fact]
    public void A_kind_this_build_does_not_have_keeps_its_fields_when_stored_again()
    {
        const string stored = """{"id":"acme","transformErrorMode":"propagate","destinations":[{"name":"x","kind":"kafka","endpoint":"https://kafka.example.com","topic":"otlp"}]}""";
        var config = TenantJson.DeserializeStored(stored);
        Assert.Null(config.Destinations[0].Settings);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(stored), JsonNode.Parse(TenantJson.SerializeForStore(config))));
    }

    [Fact]
    public void Settings_built_in_code_are_stored_beside_the_common_fields()
    {
        var config = new TenantConfig
        {
            Id = "acme",
            Destinations = [new DestinationConfig { Name = "loki", Kind = LokiDestination.KindName, Endpoint = "https://loki.example.com", Settings = new LokiSettings { Labels = ["service.name"] } }],
        };
        var json = JsonNode.Parse(TenantJson.SerializeForStore(config))!["destinations"]![0]!;
        Assert.Equal("service.name", (string?)json["lokiLabels"]![0]);
        Assert.Null(json["encoding"]);
        Assert.Null(json["settings"]);
    }

    private static void Walk(Type type, HashSet<Type> seen, HashSet<Type> enums)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (!seen.Add(type))
        {
            return;
        }

        if (type.IsEnum)
        {
            enums.Add(type);
            return;
        }

        if (type.IsGenericType)
        {
            foreach (var argument in type.GetGenericArguments())
            {
                Walk(argument, seen, enums);
            }
        }

        var info = TenantJson.Options.GetTypeInfo(type);
        if (info.Kind == JsonTypeInfoKind.Object)
        {
            foreach (var property in info.Properties)
            {
                Walk(property.PropertyType, seen, enums);
            }
        }
    }
}
