using System.Net;
using System.Text.Json;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Http;
using ServerlessOtlp.Log;
using ServerlessOtlp.Performance;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Storage;

namespace ServerlessOtlp.Functions;

/// <summary>Per partition: where the log ends, the checkpoint, the lag and who holds the lease.</summary>
public sealed record PartitionView(int Partition, long End, long Checkpoint, long Lag, string? LeaseOwner, DateTimeOffset? LeaseExpiresAt, DateTimeOffset? CheckpointUpdatedAt);

public sealed record NodeView(string Role, string Id, string? Version, string? Host, DateTimeOffset? StartedAt, string Status, DateTimeOffset LastSeen, double AgeSeconds, IReadOnlyDictionary<string, long> Counters);

/// <summary>A tenant's replay cursor on one partition: it re-delivers that tenant's events from <c>start</c> up to <c>end</c>.</summary>
public sealed record ReplayCursorView(string Tenant, int Partition, long Start, long End, long Position, long Lag, string State, string? LeaseOwner, string CreatedBy, DateTimeOffset CreatedAt);

public sealed record AdminStatus(string Log, string ConsumerGroup, IReadOnlyList<PartitionView> Partitions, IReadOnlyList<NodeView> Nodes, IReadOnlyDictionary<string, int> DeadLetters, IReadOnlyList<ReplayCursorView> ReplayCursors, IReadOnlyList<RetryBacklogView> RetryStore, IReadOnlyDictionary<string, ComponentView> Components);

/// <summary>One component merged over the live nodes, as <c>otlpctl status</c> prints it (README, "Telemetry of the pipeline itself").</summary>
public sealed record ComponentView(LatencyView LatencyMs, ThroughputView ItemsPerSecond, double ErrorRate, long Operations)
{
    public static ComponentView From(ComponentFigures c) => new(
        new LatencyView(Math.Round(c.P50Ms, 3), Math.Round(c.P95Ms, 3), Math.Round(c.P99Ms, 3)),
        new ThroughputView(Math.Round(c.Current, 1), Math.Round(c.Average, 1), Math.Round(c.Peak, 1)),
        Math.Round(c.ErrorRate, 4),
        c.Operations);
}

public sealed record LatencyView(double P50, double P95, double P99);

public sealed record ThroughputView(double Current, double Average, double Peak);

/// <summary>A destination's batches parked in the retry store: how many, their bytes, and the age of the oldest.</summary>
public sealed record RetryBacklogView(string Tenant, string Destination, int Batches, long Bytes, double OldestAgeSeconds);

/// <summary>The body of <c>POST admin/replay</c>: one partition or all, from a time or a position; with a tenant, through that tenant's replay cursors.</summary>
public sealed record ReplayRequest(int? Partition = null, bool All = false, DateTimeOffset? From = null, long? Position = null, string? Tenant = null);

public sealed record ReplayView(int Partition, string By, DateTimeOffset At, long From, long To, long Count);

/// <summary>HTTP admin (function keys): status and replay (of partitions, or of one tenant through replay cursors).</summary>
public sealed class AdminFunctions(ProcessingHost host)
{
    /// <summary>Recorded in the checkpoint row's audit columns.</summary>
    public const string ReplayedBy = "admin-http";

    /// <summary>The JSON shape of every admin response (web defaults: camelCase).</summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    [Function("AdminStatus")]
    public async Task<HttpResponseData> StatusAsync(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = "admin/status")] HttpRequestData request,
        CancellationToken cancellationToken) =>
        await RespondAsync(request, HttpStatusCode.OK, await GetStatusAsync(cancellationToken));

    [Function("AdminReplay")]
    public async Task<HttpResponseData> ReplayAsync(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "admin/replay")] HttpRequestData request,
        CancellationToken cancellationToken)
    {
        ReplayRequest? body;
        try
        {
            body = await JsonSerializer.DeserializeAsync<ReplayRequest>(request.Body, Json, cancellationToken);
        }
        catch (JsonException ex)
        {
            return await RespondAsync(request, HttpStatusCode.BadRequest, new { error = "body is not a replay request: " + ex.Message });
        }

        var (status, result) = await ReplayAsync(body ?? new ReplayRequest(), cancellationToken);
        return await RespondAsync(request, status, result);
    }

    public async Task<AdminStatus> GetStatusAsync(CancellationToken cancellationToken = default)
    {
        var runtime = await host.GetAsync(cancellationToken);
        var services = runtime.Services;
        var partitions = await runtime.Dispatcher.GetStatusAsync(cancellationToken);
        var nodes = await services.Nodes.ListAsync(cancellationToken: cancellationToken);
        var deadLetters = await services.DeadLetters.ListAsync(cancellationToken: cancellationToken);
        var cursors = await runtime.Dispatcher.GetReplayCursorsAsync(cancellationToken);
        return new AdminStatus(
            services.Log.Name,
            services.Drain.ConsumerGroup,
            partitions.Select(p => new PartitionView(p.Partition, p.End.Value, p.Checkpoint.Value, p.Lag, p.LeaseOwner, p.LeaseExpiresAt, p.CheckpointUpdatedAt)).ToList(),
            nodes.Select(n => new NodeView(n.Role, n.Id, n.Version, n.Host, n.StartedAt, n.Status, n.LastSeen, n.Age.TotalSeconds, n.Counters)).ToList(),
            deadLetters.GroupBy(d => d.Tenant, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal),
            cursors.Select(View).ToList(),
            (await services.RetryStore.GetStatsAsync(cancellationToken))
                .OrderBy(b => b.Tenant, StringComparer.Ordinal).ThenBy(b => b.Destination, StringComparer.Ordinal)
                .Select(b => new RetryBacklogView(b.Tenant, b.Destination, b.Count, b.Bytes, Math.Round(b.OldestAge.TotalSeconds, 1)))
                .ToList(),
            DeploymentPerformance.MergeLive(nodes).ToDictionary(c => c.Key, c => ComponentView.From(c.Value), StringComparer.Ordinal));
    }

    /// <summary>Validates and applies a replay; returns the HTTP status and the response body.</summary>
    public async Task<(HttpStatusCode Status, object Body)> ReplayAsync(ReplayRequest request, CancellationToken cancellationToken = default)
    {
        if ((request.From == null) == (request.Position == null))
        {
            return (HttpStatusCode.BadRequest, new { error = "give exactly one of \"from\" (an ISO 8601 time) or \"position\"" });
        }

        if ((request.Partition == null) == !request.All)
        {
            return (HttpStatusCode.BadRequest, new { error = "give exactly one of \"partition\" or \"all\": true" });
        }

        if (request.All && request.Position != null)
        {
            return (HttpStatusCode.BadRequest, new { error = "a position belongs to one partition; replay all partitions from a time" });
        }

        var runtime = await host.GetAsync(cancellationToken);
        var services = runtime.Services;
        int count = services.Log.PartitionCount;
        if (request.Partition is int one && (one < 0 || one >= count))
        {
            return (HttpStatusCode.BadRequest, new { error = $"partition {one} does not exist; the log has {count}" });
        }

        var partitions = request.Partition is int p ? [p] : Enumerable.Range(0, count);
        if (request.Tenant is { } tenant)
        {
            try
            {
                await runtime.Replay.ValidateAsync(tenant, cancellationToken);
            }
            catch (ArgumentException ex)
            {
                return (HttpStatusCode.BadRequest, new { error = ex.Message });
            }

            // Accepted: the cursors exist now; the drains re-deliver in the background (see admin/status).
            var started = new List<ReplayCursorView>();
            foreach (int partition in partitions)
            {
                ReplayCursor cursor;
                try
                {
                    cursor = await runtime.Replay.StartAsync(tenant, partition, request.From, request.Position, ReplayedBy, cancellationToken);
                }
                catch (ReaderLimitException ex)
                {
                    // Event Hubs' five readers per partition and group are busy with other tenants' cursors: retry later.
                    return (HttpStatusCode.ServiceUnavailable, new { error = ex.Message, started = started });
                }

                started.Add(View(new ReplayCursorStatus(cursor, services.Log.Lag(new(cursor.Position), new(cursor.End)), null, null, true)));
            }

            return (HttpStatusCode.Accepted, new { cursors = started });
        }

        var audits = new List<ReplayView>();
        foreach (int partition in partitions)
        {
            var audit = await services.ReplayAsync(partition, request.From, request.Position, ReplayedBy, cancellationToken);
            audits.Add(new ReplayView(partition, audit.By, audit.At, audit.From, audit.To, audit.Count));
        }

        return (HttpStatusCode.OK, new { replayed = audits });
    }

    private static ReplayCursorView View(ReplayCursorStatus status) =>
        new(status.Cursor.Tenant, status.Cursor.Partition, status.Cursor.Start, status.Cursor.End, status.Cursor.Position, status.Lag, status.Cursor.State, status.LeaseOwner, status.Cursor.CreatedBy, status.Cursor.CreatedAt);

    private static async Task<HttpResponseData> RespondAsync(HttpRequestData request, HttpStatusCode status, object body)
    {
        var response = request.CreateResponse(status);
        response.Headers.Add("Content-Type", "application/json; charset=utf-8");
        // Serialized here, not through the worker's ObjectSerializer, so the shape is the same in tests.
        await response.WriteStringAsync(JsonSerializer.Serialize(body, body.GetType(), Json));
        return response;
    }
}
