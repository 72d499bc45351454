using ServerlessOtlp.Export.Files;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Tests.Tenants;

/// <summary>A hostile tenant file is refused at apply time (issue 14), with file, line and field.</summary>
public sealed class TenantFileSecurityTests
{
    private static TenantConfigError Refused(string destination, TenantFileRules? rules = null)
    {
        string json = "{ \"tenants\": [ {\n  \"id\": \"mallory\",\n  \"destinations\": [\n    " + destination + "\n  ]\n} ] }";
        var ex = Assert.Throws<TenantConfigException>(() => TenantFileParser.Parse(json, "mallory.json", rules: rules));
        var error = Assert.Single(ex.Errors);
        Assert.Equal(("mallory.json", 4), (error.File, error.Line));
        Assert.StartsWith("mallory.json:4: tenants[0].destinations[0].", error.ToString(), StringComparison.Ordinal);
        return error;
    }

    private static TenantConfig Accepted(string destination, TenantFileRules? rules = null) =>
        Assert.Single(TenantFileParser.Parse("{ \"tenants\": [ { \"id\": \"mallory\", \"destinations\": [ " + destination + " ] } ] }", "mallory.json", rules: rules).Tenants);

    [Theory]
    [InlineData("secret:ServerlessOtlp:Storage:ConnectionString")]
    [InlineData("secret:ServerlessOtlp__Storage__ConnectionString")]
    [InlineData("secret:../acme/token")]
    [InlineData("secret:acme/token")]
    [InlineData("secret:acme.token")]
    [InlineData("secret:")]
    [InlineData("secret: token")]
    [InlineData("secret:token\\n")]
    [InlineData("secret:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    public void A_secret_reference_that_cannot_name_one_of_the_tenants_own_secrets_is_refused(string reference)
    {
        var error = Refused($$"""{ "name": "tempo", "kind": "otlphttp", "endpoint": "https://tempo.example.com", "headers": { "Authorization": "{{reference}}" } }""");

        Assert.Equal("tenants[0].destinations[0].headers.Authorization", error.Path);
        Assert.Contains("invalid secret reference", error.Message, StringComparison.Ordinal);
        Assert.Contains("own namespace", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_secret_reference_in_any_header_is_checked_not_only_in_credential_headers()
    {
        var error = Refused("""{ "name": "loki", "kind": "loki", "endpoint": "https://loki.example.com", "headers": { "X-Scope-OrgID": "secret:ServerlessOtlp:Egress" } }""");

        Assert.Equal("tenants[0].destinations[0].headers[\"X-Scope-OrgID\"]", error.Path);
    }

    [Fact]
    public void A_valid_secret_reference_is_accepted()
    {
        var tenant = Accepted("""{ "name": "tempo", "kind": "otlphttp", "endpoint": "https://tempo.example.com", "headers": { "Authorization": "secret:Tempo-Token-2" } }""");

        Assert.True(SecretReference.TryParse(tenant.Destinations[0].Headers["Authorization"], out string name));
        Assert.Equal("Tempo-Token-2", name);
    }

    [Theory]
    [InlineData("http://169.254.169.254/latest/meta-data/")]
    [InlineData("http://169.254.169.254:80/metadata/instance?api-version=2021-02-01")]
    [InlineData("http://[::ffff:169.254.169.254]:4318")]
    [InlineData("http://[::ffff:a9fe:a9fe]/")]
    [InlineData("http://[64:ff9b::a9fe:a9fe]/")]
    [InlineData("http://2852039166/")]
    [InlineData("http://0xa9.0xfe.0xa9.0xfe/")]
    [InlineData("http://169.254.1.1:4318")]
    [InlineData("http://168.63.129.16/machine")]
    [InlineData("http://[fd00:ec2::254]/latest/meta-data/")]
    [InlineData("http://[fe80::1]:4318")]
    [InlineData("http://0.0.0.0:4318")]
    [InlineData("http://[::]:4318")]
    [InlineData("http://224.0.0.1:4318")]
    [InlineData("http://metadata.google.internal/computeMetadata/v1/")]
    [InlineData("http://METADATA.google.internal./computeMetadata/v1/")]
    [InlineData("http://metadata/computeMetadata/v1/")]
    [InlineData("http://instance-data/latest/meta-data/")]
    public void A_destination_at_a_metadata_or_link_local_address_is_refused_at_apply(string endpoint)
    {
        foreach (string kind in new[] { "otlp", "otlphttp", "loki", "prometheusremotewrite" })
        {
            var error = Refused($$"""{ "name": "steal", "kind": "{{kind}}", "endpoint": "{{endpoint}}" }""");

            Assert.Equal("tenants[0].destinations[0].endpoint", error.Path);
            Assert.Contains("never connect there", error.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("http://127.0.0.1:4318")]
    [InlineData("http://localhost:4318")]
    [InlineData("http://10.0.0.5:4317")]
    [InlineData("http://[fd12:3456::1]:4318")]
    [InlineData("https://tempo.example.com")]
    public void Loopback_private_and_named_endpoints_are_left_to_the_connect_time_policy(string endpoint)
    {
        Assert.Equal(endpoint, Accepted($$"""{ "name": "tempo", "kind": "otlphttp", "endpoint": "{{endpoint}}" }""").Destinations[0].Endpoint);
    }

    [Theory]
    [InlineData("/var/otlp/acme", "is absolute")]
    [InlineData("../acme", "leaves its directory")]
    [InlineData("files/../../acme", "leaves its directory")]
    [InlineData("..", "leaves its directory")]
    [InlineData("C:\\otlp", "is absolute")]
    [InlineData("\\\\server\\share", "is absolute")]
    [InlineData("files\\..\\..", "is not a relative directory")]
    [InlineData(".hidden", "is not a relative directory")]
    [InlineData("a/b/c/d/e/f/g/h/i", "more than 8 segments")]
    [InlineData("", "is required for kind file")]
    public void A_deployments_file_path_must_stay_in_the_tenants_directory(string path, string message)
    {
        var error = Refused($$"""{ "name": "files", "kind": "file", "path": "{{path.Replace("\\", "\\\\", StringComparison.Ordinal)}}" }""");

        Assert.Equal("tenants[0].destinations[0].path", error.Path);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("files")]
    [InlineData("traces/prod")]
    [InlineData("a_b.c-d/e")]
    public void A_relative_file_path_is_accepted_for_a_deployment(string path)
    {
        Assert.Equal(path, Accepted($$"""{ "name": "files", "kind": "file", "path": "{{path}}" }""").Destinations[0].Settings is FileSettings f ? f.Path : null);
    }

    [Fact]
    public void Otlpctl_dev_without_a_file_root_accepts_any_path_but_never_a_metadata_endpoint()
    {
        Assert.Equal("/var/otlp/acme", Accepted("""{ "name": "files", "kind": "file", "path": "/var/otlp/acme" }""", TenantFileRules.AnyPath).Destinations[0].Settings is FileSettings f ? f.Path : null);

        var error = Refused("""{ "name": "steal", "kind": "otlphttp", "endpoint": "http://169.254.169.254" }""", TenantFileRules.AnyPath);
        Assert.Equal("tenants[0].destinations[0].endpoint", error.Path);
    }

    [Fact]
    public void A_tenant_id_or_destination_name_with_a_final_newline_is_refused()
    {
        Assert.False(TenantIds.IsValid("acme\n"));
        var ex = Assert.Throws<TenantConfigException>(() => TenantFileParser.Parse("""{ "tenants": [ { "id": "acme", "destinations": [ { "name": "tempo\n", "kind": "otlphttp", "endpoint": "https://tempo.example.com" } ] } ] }""", "nl.json"));
        Assert.Contains(ex.Errors, e => e.Path == "tenants[0].destinations[0].name");
    }
}
