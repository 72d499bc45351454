namespace ServerlessOtlp.Infra.Tests;

/// <summary>The parameter files compile against main.bicep and keep their shapes.</summary>
public sealed class ParameterFileTests
{
    private static int Int(JsonObject parameters, string name) => parameters["parameters"]![name]!["value"]!.GetValue<int>();

    [Theory]
    [InlineData("infra/bicep/main.bicepparam")]
    [InlineData("infra/bicep/main.dev.bicepparam")]
    [InlineData("infra/bicep/main.prod.bicepparam")]
    public void Parameter_file_compiles_with_32_partitions(string path)
    {
        var parameters = CompiledTemplate.CompileParameters(path);
        Assert.Equal(32, Int(parameters, "eventHubsPartitionCount"));
    }

    [Fact]
    public void Production_keeps_warm_gateways_and_purge_protection()
    {
        var prod = CompiledTemplate.CompileParameters("infra/bicep/main.prod.bicepparam");
        Assert.True(Int(prod, "gatewayMinReplicas") >= 2);
        Assert.True(prod["parameters"]!["keyVaultPurgeProtection"]!["value"]!.GetValue<bool>());

        var dev = CompiledTemplate.CompileParameters("infra/bicep/main.dev.bicepparam");
        Assert.Equal(0, Int(dev, "gatewayMinReplicas"));
    }
}
