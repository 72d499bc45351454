using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Data.Tables;

namespace ServerlessOtlp.Tests.Storage;

/// <summary>Table clients on the collection's Azurite, with a fresh table name per test.</summary>
internal static class TableTestContext
{
    public static string UniqueTableName() => "t" + Guid.NewGuid().ToString("N");

    public static TableServiceClient Service(string connectionString, LostResponsePolicy? lostResponse = null)
    {
        var options = new TableClientOptions();
        options.Retry.Delay = TimeSpan.FromMilliseconds(10);
        options.Retry.MaxRetries = 3;
        if (lostResponse != null)
        {
            options.AddPolicy(lostResponse, HttpPipelinePosition.PerRetry);
        }

        return new TableServiceClient(connectionString, options);
    }
}

/// <summary>
/// Simulates a write whose response is lost after the service applied it: once armed, the next
/// non-GET request goes through, then fails with an IOException, so the SDK's retry policy sends
/// it again and the retry meets the ETag the first try already changed (412 or 409).
/// </summary>
internal sealed class LostResponsePolicy : HttpPipelinePolicy
{
    private int _armed;

    public int Fired { get; private set; }

    public void Arm() => Interlocked.Exchange(ref _armed, 1);

    public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
    {
        ProcessNext(message, pipeline);
        LoseResponse(message);
    }

    public override async ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
    {
        await ProcessNextAsync(message, pipeline);
        LoseResponse(message);
    }

    private void LoseResponse(HttpMessage message)
    {
        if (message.Request.Method != RequestMethod.Get && Interlocked.Exchange(ref _armed, 0) == 1)
        {
            Fired++;
            throw new IOException($"simulated loss of the response ({message.Response.Status}) to {message.Request.Method}");
        }
    }
}
