namespace ServerlessOtlp.Infra.Tests;

/// <summary>The gateway Container App: HTTP/2 ingress, probes on the management port, settings the code reads.</summary>
public sealed class GatewayTests
{
    private const int SinglePort = 8080;
    private const int ManagementPort = 13133;

    private static readonly CompiledTemplate Template = CompiledTemplate.Instance;
    private static readonly (CompiledTemplate.Deployment Deployment, JsonObject Resource) App =
        Assert.Single(Template.Resources("Microsoft.App/containerApps"));

    private static JsonNode Properties => App.Resource["properties"]!;
    private static JsonObject Container => Assert.Single(Properties["template"]!["containers"]!.AsArray())!.AsObject();

    private static Dictionary<string, JsonObject> Env() =>
        Container["env"]!.AsArray().Select(e => e!.AsObject()).ToDictionary(e => (string)e["name"]!);

    private static string? EnvValue(string name) => App.Deployment.ResolveString(Env()[name]["value"]);

    [Fact]
    public void Ingress_speaks_http2_to_the_single_port()
    {
        var ingress = Properties["configuration"]!["ingress"]!;
        Assert.Equal("http2", (string?)ingress["transport"]);
        Assert.Equal(SinglePort.ToString(), App.Deployment.ResolveString(ingress["targetPort"]));
        Assert.Equal("true", ingress["external"]?.ToString());
        Assert.Equal("false", ingress["allowInsecure"]?.ToString());
        Assert.Null(ingress["additionalPortMappings"]);
    }

    [Theory]
    [InlineData("Liveness", "/healthz")]
    [InlineData("Readiness", "/readyz")]
    [InlineData("Startup", "/healthz")]
    public void Probes_use_the_management_port(string type, string path)
    {
        var probe = Assert.Single(Container["probes"]!.AsArray(), p => (string?)p!["type"] == type)!;
        Assert.Equal(path, (string?)probe["httpGet"]!["path"]);
        Assert.Equal(ManagementPort.ToString(), App.Deployment.ResolveString(probe["httpGet"]!["port"]));
        Assert.Equal("HTTP", (string?)probe["httpGet"]!["scheme"]);
    }

    [Fact]
    public void Container_settings_are_the_ones_the_gateway_reads()
    {
        Assert.Equal("eventhubs", EnvValue("ServerlessOtlp__Log__Kind"));
        Assert.Equal(SinglePort.ToString(), EnvValue("ServerlessOtlp__Gateway__SinglePort"));
        Assert.Equal(ManagementPort.ToString(), EnvValue("ServerlessOtlp__Gateway__ManagementPort"));
        Assert.Contains("fullyQualifiedNamespace", EnvValue("ServerlessOtlp__Log__EventHubs__FullyQualifiedNamespace"), StringComparison.Ordinal);
        Assert.NotNull(EnvValue("ServerlessOtlp__Log__EventHubs__EventHubName"));
        Assert.NotNull(EnvValue("ServerlessOtlp__Storage__AccountName"));
        Assert.Equal("[parameters('identityClientId')]", Env()["AZURE_CLIENT_ID"]["value"]?.ToString());
        // OpAMP offers agents this URL: https, the ingress FQDN (app name + the environment's default domain).
        string publicUrl = Env()["ServerlessOtlp__Gateway__PublicUrl"]["value"]!.ToString();
        Assert.Equal("[format('https://{0}.{1}', parameters('name'), parameters('environmentDefaultDomain'))]", publicUrl);
        Assert.Contains("defaultDomain", Template.Module("gateway").Argument("environmentDefaultDomain")?.ToString() ?? "", StringComparison.Ordinal);
    }

    [Fact]
    public void Trusts_one_proxy_hop_the_ingress()
    {
        // Container Apps' ingress appends the client address to X-Forwarded-For; with 0 every client
        // would share the ingress's address in per-address limits, with 2 a client could choose its own.
        Assert.Equal("1", EnvValue("ServerlessOtlp__Gateway__TrustedProxyHops"));
    }

    [Fact]
    public void The_key_pepper_comes_from_Key_Vault_through_the_apps_identity()
    {
        var env = Env();
        Assert.Null(env["ServerlessOtlp__Tenants__KeyPeppers__1"]["value"]);
        string secretName = (string)env["ServerlessOtlp__Tenants__KeyPeppers__1"]["secretRef"]!;
        Assert.Equal("1", EnvValue("ServerlessOtlp__Tenants__KeyPepperVersion"));

        var secret = Assert.Single(Properties["configuration"]!["secrets"]!.AsArray(), s => (string?)s!["name"] == secretName)!;
        Assert.Null(secret["value"]);
        Assert.Equal("[parameters('identityId')]", secret["identity"]?.ToString());
        Assert.Equal("[parameters('keyPepperSecretUri')]", secret["keyVaultUrl"]?.ToString());

        // The URI the module gets is the vault's, naming the secret the Key Vault module creates.
        string uri = Template.Module("gateway").Argument("keyPepperSecretUri")!.ToString();
        Assert.Contains("'keyvault'", uri, StringComparison.Ordinal);
        Assert.Contains("pepperUri", uri, StringComparison.Ordinal);
        var vault = Template.Module("keyvault");
        var stored = Assert.Single(Template.Resources("Microsoft.KeyVault/vaults/secrets"));
        Assert.Equal("[parameters('keyPepper')]", stored.Resource["properties"]!["value"]?.ToString());
        Assert.Equal("[parameters('keyPepper')]", vault.Argument("keyPepper")?.ToString());
        Assert.Equal("securestring", Template.Root.Template["parameters"]!["keyPepper"]!["type"]?.ToString());
    }

    [Fact]
    public void No_connection_string_reaches_the_container_except_App_Insights_as_a_secret()
    {
        var env = Env();
        Assert.DoesNotContain(env.Keys, k => k.Contains("ConnectionString", StringComparison.OrdinalIgnoreCase) && k != "APPLICATIONINSIGHTS_CONNECTION_STRING");
        Assert.Null(env["APPLICATIONINSIGHTS_CONNECTION_STRING"]["value"]);
        Assert.NotNull(env["APPLICATIONINSIGHTS_CONNECTION_STRING"]["secretRef"]);
        Assert.DoesNotContain("AccountKey", Properties.ToJsonString(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Image_is_pulled_with_the_user_assigned_identity()
    {
        var registry = Assert.Single(Properties["configuration"]!["registries"]!.AsArray())!;
        Assert.Equal("[parameters('identityId')]", registry["identity"]?.ToString());
        Assert.Null(registry["passwordSecretRef"]);
        Assert.Equal("UserAssigned", (string?)App.Resource["identity"]!["type"]);
    }

    [Fact]
    public void Scales_between_min_and_max_replicas_on_http_concurrency()
    {
        var scale = Properties["template"]!["scale"]!;
        Assert.NotNull(scale["minReplicas"]);
        Assert.NotNull(scale["maxReplicas"]);
        Assert.Contains(scale["rules"]!.AsArray(), r => r!["http"] is not null);
    }

    [Fact]
    public void Carries_the_azd_service_tag()
    {
        Assert.Contains("'azd-service-name', 'gateway'", App.Resource["tags"]?.ToString(), StringComparison.Ordinal);
    }
}
