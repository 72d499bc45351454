using System.Buffers;
using OpenTelemetry;
using OpenTelemetry.Exporter;

namespace ServerlessOtlp.Client.Implementation;

/// <summary>
/// Exports to several gateway endpoints, each through the SDK's own OTLP exporter: healthy and
/// fastest first, a share of probes to the others, the next endpoint when one fails, and a
/// bounded buffer for what failed everywhere (sent again, oldest first, with the next export).
/// </summary>
internal sealed class FailoverExporter<T> : BaseExporter<T>, IHealthSource
    where T : class
{
    private readonly GatewayEndpoint<T>[] _endpoints;
    private readonly Func<T, T>? _keep;
    private readonly RetryBuffer<T>? _buffer;
    private readonly ClientMetrics _metrics;
    private readonly int _probeEvery;
    private long _exports;
    private BaseProvider? _parent;
    private long _failovers;
    private long _notBuffered;
    private long _rejected;

    /// <param name="signal">traces, metrics or logs, for the self-metrics.</param>
    /// <param name="keep">
    /// Makes an item safe to hold past the batch (identity for spans, a copy for pooled log
    /// records). Null: items cannot be held, so each export goes once to the preferred endpoint.
    /// </param>
    /// <param name="bufferable">Whether failed items may be sent again later (not metrics: their objects are reused by the next collection).</param>
    public FailoverExporter(string signal, ServerlessOtlpExporterOptions options, Func<OtlpExporterOptions, BaseExporter<T>> createExporter, Func<T, T>? keep, bool bufferable)
    {
        var gateways = options.AllGateways().ToList();
        if (gateways.Count == 0)
        {
            throw new ArgumentException($"no endpoint configured: set {ServerlessOtlpExporterOptions.Section}:Endpoints (or :Gateways) or ServerlessOtlpExporterOptions.Endpoints", nameof(options));
        }

        if (options.ProbeShare is < 0 or > 1 || options.LatencyEwmaAlpha is <= 0 or > 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "ProbeShare must be within [0, 1] and LatencyEwmaAlpha within (0, 1]");
        }

        Signal = signal;
        // Probes are scheduled, not drawn: every n-th export, so their number is exact.
        _probeEvery = options.ProbeShare > 0 ? (int)Math.Max(1, Math.Round(1 / options.ProbeShare)) : 0;
        _keep = keep;
        _endpoints = gateways.Select(g => new GatewayEndpoint<T>(g, options, createExporter)).ToArray();
        ServerlessOtlpHealth.Register(this);
        _buffer = bufferable && keep != null && options.BufferCapacity > 0 ? new RetryBuffer<T>(options.BufferCapacity) : null;
        _metrics = new ClientMetrics(signal, () => _buffer?.Count ?? 0, () => _endpoints.Select(e => (e.Name, e.Health)));
    }

    public string Signal { get; }

    internal IReadOnlyList<GatewayEndpoint<T>> Endpoints => _endpoints;

    internal int BufferedItems => _buffer?.Count ?? 0;

    /// <summary>Items given up so far: pushed out of a full buffer, or failed and not bufferable.</summary>
    internal long DroppedItems => (_buffer?.Dropped ?? 0) + Interlocked.Read(ref _notBuffered);

    internal long Failovers => Interlocked.Read(ref _failovers);

    /// <summary>Items refused for good by a gateway (a wrong key, invalid data): dropped, neither retried nor buffered.</summary>
    internal long RejectedItems => Interlocked.Read(ref _rejected);

    public override ExportResult Export(in Batch<T> batch)
    {
        HandDownParentProvider();
        if (_keep == null)
        {
            return ExportOnce(batch);
        }

        // Copy the batch: it can be enumerated once, and a pooled log record goes back to its
        // pool as the enumeration moves past it. Buffered items go first, oldest first.
        int buffered = _buffer?.Count ?? 0;
        var items = ArrayPool<T>.Shared.Rent(Math.Max(1, buffered + (int)batch.Count));
        int count = 0;
        try
        {
            count = _buffer?.Drain(items.AsSpan(0, buffered)) ?? 0;
            foreach (var item in batch)
            {
                if (count == items.Length)
                {
                    var larger = ArrayPool<T>.Shared.Rent(items.Length * 2);
                    items.AsSpan(0, count).CopyTo(larger);
                    ArrayPool<T>.Shared.Return(items, clearArray: true);
                    items = larger;
                }

                items[count++] = _keep(item);
            }

            return ExportOrBuffer(items, count);
        }
        finally
        {
            ArrayPool<T>.Shared.Return(items, clearArray: true);
        }
    }

    protected override bool OnForceFlush(int timeoutMilliseconds) => SendBuffer();

    protected override bool OnShutdown(int timeoutMilliseconds)
    {
        bool flushed = SendBuffer();
        bool all = true;
        foreach (var endpoint in _endpoints)
        {
            all &= endpoint.Exporter.Shutdown(timeoutMilliseconds);
        }

        return flushed && all;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            foreach (var endpoint in _endpoints)
            {
                endpoint.Dispose();
            }

            _metrics.Dispose();
            ServerlessOtlpHealth.Unregister(this);
        }

        base.Dispose(disposing);
    }

    /// <summary>Sends what the buffer holds; true when it is empty afterwards.</summary>
    private bool SendBuffer()
    {
        if (_buffer == null || _buffer.Count == 0)
        {
            return true;
        }

        HandDownParentProvider();
        var items = ArrayPool<T>.Shared.Rent(_buffer.Capacity);
        try
        {
            int count = _buffer.Drain(items.AsSpan(0, _buffer.Capacity));
            return ExportOrBuffer(items, count) == ExportResult.Success;
        }
        finally
        {
            ArrayPool<T>.Shared.Return(items, clearArray: true);
        }
    }

    private ExportResult ExportOrBuffer(T[] items, int count)
    {
        var delivery = count == 0 ? Delivery.Delivered : TryEndpoints(items, count);
        if (delivery == Delivery.Delivered)
        {
            return ExportResult.Success;
        }

        if (delivery == Delivery.Rejected)
        {
            return ExportResult.Failure; // counted and logged where it happened; sending it again cannot help
        }

        if (_buffer != null)
        {
            _metrics.Dropped(_buffer.Add(items.AsSpan(0, count)), "buffer_full");
        }
        else
        {
            Interlocked.Add(ref _notBuffered, count);
            _metrics.Dropped(count, "not_buffered");
        }

        return ExportResult.Failure;
    }

    private Delivery TryEndpoints(T[] items, int count)
    {
        Span<int> order = stackalloc int[_endpoints.Length];
        Order(order);
        for (int i = 0; i < order.Length; i++)
        {
            var endpoint = _endpoints[order[i]];
            var outcome = endpoint.Export(items, count, out double durationMs, out var answer);
            _metrics.Export(endpoint.Name, outcome switch
            {
                AttemptOutcome.Success => "success",
                AttemptOutcome.Refused => "circuit_open",
                AttemptOutcome.Rejected => "rejected",
                AttemptOutcome.Throttled => "throttled",
                _ => "failure",
            });
            if (outcome == AttemptOutcome.Success)
            {
                _metrics.Latency(endpoint.Name, durationMs);
                return Delivery.Delivered;
            }

            if (outcome == AttemptOutcome.Rejected)
            {
                // Every gateway would refuse it the same way: no failover storm, no buffering.
                Interlocked.Add(ref _rejected, count);
                _metrics.Dropped(count, "rejected", answer.StatusName);
                ClientEventSource.Log.Rejected(endpoint.Name, Signal, count, answer.StatusName);
                return Delivery.Rejected;
            }

            if (i + 1 < order.Length)
            {
                Interlocked.Increment(ref _failovers);
                _metrics.Failover();
            }
        }

        return Delivery.Failed;
    }

    private enum Delivery
    {
        Delivered,
        Rejected,
        Failed,
    }

    /// <summary>Without a way to hold items: one attempt, on the preferred endpoint, with the batch as it came.</summary>
    private ExportResult ExportOnce(in Batch<T> batch)
    {
        Span<int> order = stackalloc int[_endpoints.Length];
        Order(order);
        var endpoint = _endpoints[order[0]];
        var result = endpoint.Exporter.Export(batch);
        _metrics.Export(endpoint.Name, result == ExportResult.Success ? "success" : "failure");
        return result;
    }

    private void Order(Span<int> order)
    {
        int n = _endpoints.Length;
        Span<EndpointHealth> health = stackalloc EndpointHealth[n];
        Span<double> latency = stackalloc double[n];
        Span<Proximity> proximity = stackalloc Proximity[n];
        for (int i = 0; i < n; i++)
        {
            health[i] = _endpoints[i].Health;
            latency[i] = _endpoints[i].LatencyMs;
            proximity[i] = _endpoints[i].Proximity;
        }

        long export = Interlocked.Increment(ref _exports);
        bool probe = _probeEvery > 0 && export % _probeEvery == 0;
        EndpointOrder.Fill(order, health, latency, proximity, probe, (int)(export / Math.Max(1, _probeEvery)));
    }

    /// <summary>The state of every endpoint, for <see cref="ServerlessOtlpHealth.GetHealth"/>.</summary>
    public IEnumerable<ServerlessOtlpEndpointHealth> Health() =>
        _endpoints.Select(e => new ServerlessOtlpEndpointHealth(
            Signal,
            e.Uri,
            e.Region,
            e.Zone,
            e.Health switch
            {
                EndpointHealth.Healthy => ServerlessOtlpEndpointState.Healthy,
                EndpointHealth.Recovering => ServerlessOtlpEndpointState.Recovering,
                _ => ServerlessOtlpEndpointState.Broken,
            },
            e.Circuit.ToString(),
            double.IsNaN(e.LatencyMs) ? null : e.LatencyMs,
            e.Proximity != Proximity.OtherRegion));

    private void HandDownParentProvider()
    {
        var parent = ParentProvider;
        if (parent != null && !ReferenceEquals(parent, _parent))
        {
            foreach (var endpoint in _endpoints)
            {
                SdkInternals.TrySetParentProvider(endpoint.Exporter, parent);
            }

            _parent = parent;
        }
    }
}
