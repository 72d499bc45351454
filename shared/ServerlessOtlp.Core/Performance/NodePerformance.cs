namespace ServerlessOtlp.Performance;

/// <summary>The components of the performance model, as <c>otlpctl status</c> and the heartbeat rows name them.</summary>
public static class PerformanceComponents
{
    /// <summary>An OTLP request, received to answered; items accepted; refused requests are errors.</summary>
    public const string Gateway = "gateway";

    /// <summary>One durable append to the log; items appended.</summary>
    public const string Append = "append";

    /// <summary>An event's wait from the gateway's received-at stamp until a drain read it.</summary>
    public const string QueueWait = "queueWait";

    /// <summary>A drain's local work on one event (decode, sampling, transforms, routing; not its exports).</summary>
    public const string Drain = "drain";

    /// <summary>One export to one destination, inline retries included; items exported; not accepted is an error.</summary>
    public const string Export = "export";

    /// <summary>An event from received-at until the checkpoint passed it (delivered, parked or dead-lettered).</summary>
    public const string EndToEnd = "endToEnd";

    public static readonly IReadOnlyList<string> All = [Gateway, Append, QueueWait, Drain, Export, EndToEnd];

    /// <summary>What a gateway measures and reports.</summary>
    public static readonly IReadOnlyList<string> OfGateway = [Gateway, Append];

    /// <summary>What a drain worker (local runner, Functions instance) measures and reports.</summary>
    public static readonly IReadOnlyList<string> OfDrains = [QueueWait, Drain, Export, EndToEnd];
}

/// <summary>
/// A node's recorders, one per component it runs. A gateway and a drain worker in one process (<c>otlpctl
/// dev</c>) keep one each, so that their two heartbeat rows never count the same work twice.
/// </summary>
public sealed class NodePerformance
{
    private readonly Dictionary<string, ComponentRecorder> _components;

    public NodePerformance(IEnumerable<string> components, TimeProvider? time = null)
    {
        _components = components.ToDictionary(c => c, _ => new ComponentRecorder(time), StringComparer.Ordinal);
    }

    public static NodePerformance ForGateway(TimeProvider? time = null) => new(PerformanceComponents.OfGateway, time);

    public static NodePerformance ForDrains(TimeProvider? time = null) => new(PerformanceComponents.OfDrains, time);

    public ComponentRecorder this[string component] => _components[component];

    /// <summary>The components with anything in the last hour, for the heartbeat.</summary>
    public IReadOnlyDictionary<string, ComponentSnapshot> Snapshot()
    {
        var result = new Dictionary<string, ComponentSnapshot>(StringComparer.Ordinal);
        foreach (var (name, recorder) in _components)
        {
            if (recorder.Snapshot() is { } snapshot)
            {
                result[name] = snapshot;
            }
        }

        return result;
    }
}
