using Microsoft.Extensions.Logging;
using ServerlessOtlp.Log;
using ServerlessOtlp.Storage;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Processing;

/// <summary>
/// Per-tenant replay: a <see cref="ReplayCursor"/> per partition re-delivers one tenant's events
/// from a time or position up to the live checkpoint, through the same drain engine, under its
/// own consumer group, lease and checkpoint row. The live checkpoint and other tenants are untouched.
/// </summary>
public sealed class TenantReplay(ProcessingServices services)
{
    /// <summary>
    /// Starts (or restarts) <paramref name="tenant"/>'s cursor on <paramref name="partition"/> at
    /// <paramref name="position"/>, or at the first event received at or after <paramref name="from"/>;
    /// it ends at the partition's live checkpoint as of now. Audited in the cursor's row.
    /// </summary>
    /// <exception cref="ArgumentException">The tenant id is invalid or not configured, or neither a time nor a position was given.</exception>
    public async Task<ReplayCursor> StartAsync(string tenant, int partition, DateTimeOffset? from, long? position, string by, CancellationToken cancellationToken = default)
    {
        await ValidateAsync(tenant, cancellationToken);
        var start = await services.PositionAsync(partition, from, position, cancellationToken);
        var live = await services.Checkpoints.ReadAsync(services.Log.Name, services.Drain.ConsumerGroup, partition, cancellationToken);
        return await services.Checkpoints.StartCursorAsync(services.Log.Name, tenant, partition, start.Value, live.Position, by, cancellationToken);
    }

    /// <summary>Refuses what a cursor cannot serve, before anything is written.</summary>
    public async Task ValidateAsync(string tenant, CancellationToken cancellationToken = default)
    {
        if (TenantIds.Check(tenant) is { } problem)
        {
            throw new ArgumentException($"tenant id {problem}", nameof(tenant));
        }

        if (await services.Tenants.GetAsync(tenant, cancellationToken) == null)
        {
            throw new ArgumentException($"tenant \"{tenant}\" is not configured; its replayed data could only be dead-lettered", nameof(tenant));
        }
    }

    /// <summary>
    /// Runs one drain job of a cursor (<see cref="DrainJob.Tenant"/> set): the drain engine on the
    /// cursor's consumer group, bounded by its end, through a processor that passes only the
    /// tenant's events. Null when the cursor does not exist (nothing to do).
    /// </summary>
    public async Task<DrainResult?> DrainAsync(DrainJob job, bool keepAlive, CancellationToken cancellationToken = default)
    {
        string tenant = job.Tenant ?? throw new ArgumentException("not a replay cursor's job", nameof(job));
        var cursor = await services.Checkpoints.ReadCursorAsync(services.Log.Name, tenant, job.Partition, cancellationToken);
        if (cursor == null)
        {
            return null;
        }

        if (cursor.IsDone)
        {
            return new DrainResult(job.Partition, DrainEnd.ReachedEnd, 0, 0, 0, new LogPosition(cursor.Position));
        }

        // Its own reader and its own pipeline: read and sampling state are per partition, and the live drain's are in use.
        var reader = Reader();
        var processor = new TenantOnlyProcessor(tenant, services.CreateProcessor(services.Tenants));
        DrainResult result;
        try
        {
            var engine = new DrainEngine(reader, services.Checkpoints, services.Leases, processor, services.DeadLetters, services.Drain.ForConsumerGroup(cursor.Group), services.Loggers.CreateLogger<DrainEngine>(), memory: services.Engine.Memory);
            result = await engine.DrainAsync(job.Partition, keepAlive, new LogPosition(cursor.End), cancellationToken);
        }
        catch (ReaderLimitException ex)
        {
            // Queued, not failed: the cursor stays active and its lease was released, so the next dispatch tries again.
            services.Loggers.CreateLogger<TenantReplay>().LogInformation(
                "Replay of tenant {Tenant} on partition {Partition} waits for a reader: {Reason}", tenant, job.Partition, ex.Message);
            return new DrainResult(job.Partition, DrainEnd.RetryLater, 0, 0, 0, new LogPosition(cursor.Position));
        }
        finally
        {
            await DisposeReaderAsync(reader);
        }

        if (result.End == DrainEnd.ReachedEnd)
        {
            services.Loggers.CreateLogger<TenantReplay>().LogInformation(
                "Replay of tenant {Tenant} on partition {Partition} is done at {End} ({Redelivered} events re-delivered by this job)", tenant, job.Partition, cursor.End, processor.Redelivered);
        }

        return result;
    }

    /// <summary>
    /// A reader beside the live drain's: the blob log keeps read state per instance and partition;
    /// on Event Hubs a cursor reads in the replay consumer group with non-exclusive receivers (an
    /// owner level in the live group would cut off the live drain); the memory log keeps none.
    /// </summary>
    internal IPartitionedLog Reader() => services.SideReader();

    private ValueTask DisposeReaderAsync(IPartitionedLog reader) => services.ReleaseSideReaderAsync(reader);
}

/// <summary>
/// The processor of a tenant's replay cursor: that tenant's events go through the pipeline;
/// every other event is settled as it is, never exported (its tenant got it from the live drain).
/// What the pipeline defers (tail sampling) or carries per partition (delta state) is forwarded,
/// so the drain flushes and checkpoints a replay as it does the live partition; the state lands
/// in the cursor's own checkpoint row.
/// </summary>
internal sealed class TenantOnlyProcessor(string tenant, IEventProcessor inner) : IEventProcessor
{
    private long _redelivered;

    public string Tenant => tenant;

    /// <summary>Events of the tenant handed to the pipeline.</summary>
    public long Redelivered => Interlocked.Read(ref _redelivered);

    /// <summary>The pipeline's own hooks: only the tenant's items reach them.</summary>
    public PartitionHooks Hooks => inner.Hooks;

    public Task<EventFate> ProcessAsync(int partition, ReadEvent logEvent, CancellationToken cancellationToken = default)
    {
        if (!string.Equals(logEvent.Properties?.Tenant, tenant, StringComparison.Ordinal))
        {
            return Task.FromResult(EventFate.Delivered);
        }

        Interlocked.Increment(ref _redelivered);
        return inner.ProcessAsync(partition, logEvent, cancellationToken);
    }
}

/// <summary>Where a replay cursor stands: its lag to its end and who drains it.</summary>
public sealed record ReplayCursorStatus(ReplayCursor Cursor, long Lag, string? LeaseOwner, DateTimeOffset? LeaseExpiresAt, bool LeaseClaimable);
