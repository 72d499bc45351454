using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
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
        Assert.Contains(typeof(DestinationKind), enums);
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
        Assert.Empty(destination.LokiLabels);
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
