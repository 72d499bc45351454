using System.Net;
using System.Text.Json;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Http;
using Microsoft.Extensions.Logging;
using ServerlessOtlp.Processing;

namespace ServerlessOtlp.Functions;

/// <summary>The body of <c>POST admin/deadletters/redrive</c>: optionally one tenant, one destination.</summary>
public sealed record RedriveRequest(string? Tenant = null, string? Destination = null);

/// <summary>The answer: what happened to the matching dead letters.</summary>
public sealed record RedriveView(int Delivered, int Failed, int Retry, int Skipped, IReadOnlyList<string> SkipReasons);

/// <summary>HTTP admin (function key): re-send dead letters to their destination, removing each one delivered.</summary>
public sealed class AdminRedriveFunction(ProcessingHost host, ILogger<DeadLetterRedrive> logger)
{
    [Function("AdminRedrive")]
    public async Task<HttpResponseData> RunAsync(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "admin/deadletters/redrive")] HttpRequestData request,
        CancellationToken cancellationToken)
    {
        RedriveRequest? body = null;
        try
        {
            // An empty body means every dead letter.
            using var reader = new StreamReader(request.Body);
            string text = await reader.ReadToEndAsync(cancellationToken);
            body = string.IsNullOrWhiteSpace(text) ? null : JsonSerializer.Deserialize<RedriveRequest>(text, AdminFunctions.Json);
        }
        catch (JsonException ex)
        {
            return await RespondAsync(request, HttpStatusCode.BadRequest, new { error = "body is not a redrive request: " + ex.Message });
        }

        var result = await RedriveAsync(body ?? new RedriveRequest(), cancellationToken);
        return await RespondAsync(request, HttpStatusCode.OK, result);
    }

    public async Task<RedriveView> RedriveAsync(RedriveRequest request, CancellationToken cancellationToken = default)
    {
        var runtime = await host.GetAsync(cancellationToken);
        var result = await new DeadLetterRedrive(runtime.Services, logger).RedriveAsync(request.Tenant, request.Destination, cancellationToken);
        return new RedriveView(result.Delivered, result.Failed, result.Retry, result.Skipped, result.SkipReasons);
    }

    private static async Task<HttpResponseData> RespondAsync(HttpRequestData request, HttpStatusCode status, object body)
    {
        var response = request.CreateResponse(status);
        response.Headers.Add("Content-Type", "application/json; charset=utf-8");
        await response.WriteStringAsync(JsonSerializer.Serialize(body, body.GetType(), AdminFunctions.Json));
        return response;
    }
}
