using System.Net;
using System.Net.Http.Headers;
using Azure;
using Google.Protobuf;
using Grpc.Core;
using ServerlessOtlp.Log;
using ServerlessOtlp.Tenants;
using Xunit.Abstractions;

namespace ServerlessOtlp.Tests.Reliability;

/// <summary>
/// The tenant store unreachable (a storage outage past the tenant cache): the gateway must answer
/// retryably — 503 + Retry-After / UNAVAILABLE + RetryInfo — so that SDKs retry, not 500 / UNKNOWN,
/// which they drop. Found by the Azurite-restart run; checked here in a second.
/// </summary>
public sealed class StoreOutageTests(ITestOutputHelper output)
{
    private sealed class UnreachableDirectory : ITenantDirectory
    {
        public ValueTask<TenantConfig?> AuthenticateAsync(string apiKey, CancellationToken cancellationToken = default) =>
            ValueTask.FromException<TenantConfig?>(new RequestFailedException(0, "Connection refused (127.0.0.1:10002)"));

        public bool TryAuthenticateFromMemory(string apiKey, out TenantConfig? tenant)
        {
            tenant = null;
            return false;
        }

        public ValueTask<TenantConfig?> GetAsync(string tenantId, CancellationToken cancellationToken = default) =>
            ValueTask.FromException<TenantConfig?>(new RequestFailedException(0, "Connection refused (127.0.0.1:10002)"));
    }

    [Fact]
    public async Task An_unreachable_tenant_store_is_answered_retryably_over_gRPC_and_HTTP_without_an_unhandled_exception()
    {
        await using var gateway = await InProcessGateway.StartAsync(new MemoryLog(4), new UnreachableDirectory());
        var checker = new LossChecker();
        using var client = new RetryingClient(gateway.GrpcUri, "some-key-0123456789", checker) { GiveUpAfter = TimeSpan.Zero };
        Assert.Null(await client.SendAsync(1)); // retryable refusals until it gives up, never a permanent one
        Assert.Equal(0, checker.RejectedCount);
        Assert.True(checker.RetryableRefusals > 0);

        using var http = new HttpClient { BaseAddress = gateway.HttpUri };
        var content = new ByteArrayContent(client.Build(1).Request.ToByteArray());
        content.Headers.ContentType = MediaTypeHeaderValue.Parse("application/x-protobuf");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/traces") { Content = content };
        request.Headers.Add("x-api-key", "some-key-0123456789");
        using var response = await http.SendAsync(request);
        output.WriteLine($"HTTP {(int)response.StatusCode}, Retry-After {response.Headers.RetryAfter}");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.NotNull(response.Headers.RetryAfter);
        Assert.Empty(gateway.Errors);
    }
}
