using System.Net;
using Google.Protobuf;
using OpAmp.Proto.V1;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Gateway;
using ServerlessOtlp.Tests.Infrastructure;
using Xunit.Abstractions;
using static ServerlessOtlp.Tests.Agents.OpAmpTestServer;

namespace ServerlessOtlp.Tests.Agents;

/// <summary>
/// OpAMP in the binary that ships (Native AOT: trimmed, no reflection-based JSON): the tenant's stored
/// <c>agents</c> section read back from the table, a config delivered, the agent's row written to the
/// agents table, and a malformed message answered by OpAMP's rules.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class NativeAotOpAmpTests(AzuriteFixture azurite, ITestOutputHelper output)
{
    [Fact]
    public async Task The_native_gateway_serves_OpAMP_from_the_stored_tenant_file_and_writes_the_agents_table()
    {
        Assert.True(File.Exists(NativeAotGatewayTests.BinaryPath),
            $"no Native AOT gateway at {NativeAotGatewayTests.BinaryPath}: tools/test.sh publishes it; by hand: " +
            "dotnet publish gateway-container/ServerlessOtlp.Gateway -c Release -o artifacts/gateway-aot");
        var storage = azurite.IsolatedStorage();
        var tenants = new TenantStore(storage.Tables, storage.Names.Tenants, storage.Blobs.GetBlobContainerClient(storage.Names.TenantContainer));
        await tenants.EnsureCreatedAsync();
        await new NodeStore(storage.Tables, storage.Names.Nodes).EnsureCreatedAsync();
        var agents = new AgentStore(storage.Tables, storage.Names.Agents);
        await agents.EnsureCreatedAsync();
        await storage.Blobs.GetBlobContainerClient(storage.Names.LogContainer).CreateIfNotExistsAsync();
        await tenants.ApplyAsync(DefaultTenants());

        var settings = new Dictionary<string, string>(AzuriteFixture.NameSettings(storage.Names))
        {
            ["ServerlessOtlp__Storage__ConnectionString"] = azurite.ConnectionString,
            ["ServerlessOtlp__Log__Kind"] = "blob",
            ["ServerlessOtlp__Log__Partitions"] = "2",
            ["ServerlessOtlp__Gateway__PublicUrl"] = PublicUrl,
        };
        using var native = await NativeGatewayProcess.StartAsync(NativeAotGatewayTests.BinaryPath, settings);
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            var uri = new Uri($"http://127.0.0.1:{native.HttpPort}/v1/opamp");
            var uid = NewUid();
            var (status, reply) = await PostAsync(http, uri, FullState(uid, 1).ToByteArray(), AcmeKey);
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Null(reply.ErrorResponse);
            var file = Assert.Single(reply.RemoteConfig.Config.ConfigMap);
            Assert.Equal("edge", file.Key);
            Assert.Contains($"endpoint: {PublicUrl}", file.Value.Body.ToStringUtf8(), StringComparison.Ordinal);

            var row = await agents.GetAsync("acme", Hex(uid));
            Assert.NotNull(row);
            Assert.Equal("checkout", row.IdentifyingAttributes["service.name"]);
            Assert.Equal("edge", row.OfferedConfigName);

            var (badStatus, bad) = await PostAsync(http, uri, [0xFF, 0xFF, 0xFF], AcmeKey);
            Assert.Equal(HttpStatusCode.OK, badStatus);
            Assert.Equal(ServerErrorResponseType.BadRequest, bad.ErrorResponse.Type);
            Assert.Equal(HttpStatusCode.Unauthorized, (await PostAsync(http, uri, FullState(NewUid(), 1).ToByteArray(), "nobody-has-this-key-0000")).Status);
            Assert.DoesNotContain("Exception", native.Process.Output, StringComparison.Ordinal);
        }
        finally
        {
            output.WriteLine(native.Process.ToString());
        }
    }

    private static async Task<(HttpStatusCode Status, ServerToAgent Reply)> PostAsync(HttpClient http, Uri uri, byte[] body, string key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/x-protobuf");
        request.Headers.Add("x-api-key", key);
        using var response = await http.SendAsync(request);
        Assert.Equal("application/x-protobuf", response.Content.Headers.ContentType?.ToString());
        return (response.StatusCode, ServerToAgent.Parser.ParseFrom(await response.Content.ReadAsByteArrayAsync()));
    }
}
