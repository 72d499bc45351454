using System.Diagnostics.Tracing;

namespace ServerlessOtlp.Client.Implementation;

/// <summary>
/// The exporter's own log, as the OpenTelemetry SDK logs its own: an EventSource, seen with
/// <c>dotnet-trace</c>, an EventListener or the SDK's self-diagnostics (prefix <c>ServerlessOtlp-</c>).
/// </summary>
[EventSource(Name = "ServerlessOtlp-Client")]
internal sealed class ClientEventSource : EventSource
{
    public static readonly ClientEventSource Log = new();

    [Event(1, Level = EventLevel.Error, Message = "Gateway {0} refused {2} items of {1} for good ({3}): dropped, not retried and not sent elsewhere. Check the API key and the data.")]
    public void Rejected(string endpoint, string signal, int items, string status)
    {
        if (IsEnabled())
        {
            WriteEvent(1, endpoint, signal, items, status);
        }
    }
}
