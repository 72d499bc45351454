using Azure;
using Azure.Data.Tables;

namespace ServerlessOtlp.Storage;

/// <summary>
/// Checkpoints in Table storage: one row per (log, consumer group, partition), PartitionKey
/// <c>log|group</c>, RowKey the partition as D5. A checkpoint moves only forward, and only under
/// a fence (owner + epoch + ETag), except through an audited <see cref="ReplayAsync"/>.
/// </summary>
public class CheckpointStore
{
    /// <summary>
    /// Longest <c>State</c> in characters: the Table service caps a string property at 64 KiB,
    /// stored as UTF-16 ("Understanding the Table service data model", property types).
    /// </summary>
    public const int MaxStateChars = 32 * 1024;

    // A fence or replay re-reads and retries when a concurrent writer changed the row between
    // its read and its write; a handful of rounds is plenty, endless contention is a bug.
    private const int MaxAttempts = 8;

    private const string PositionColumn = "Position";
    private const string UpdatedAtColumn = "UpdatedAt";
    private const string UpdatedByColumn = "UpdatedBy";
    private const string OwnerColumn = "Owner";
    private const string EpochColumn = "Epoch";
    private const string FencedAtColumn = "FencedAt";
    private const string StateColumn = "State";
    private const string WriteIdColumn = "WriteId";
    private const string LastReplayByColumn = "LastReplayBy";
    private const string LastReplayAtColumn = "LastReplayAt";
    private const string LastReplayFromColumn = "LastReplayFrom";
    private const string LastReplayToColumn = "LastReplayTo";
    private const string ReplayCountColumn = "ReplayCount";
    private const string CursorTenantColumn = "CursorTenant";
    private const string CursorStartColumn = "CursorStart";
    private const string CursorEndColumn = "CursorEnd";

    private readonly TableClient _table = null!;
    private readonly TimeProvider _time = TimeProvider.System;

    public CheckpointStore(TableServiceClient service, string tableName = StorageNames.DefaultCheckpoints, TimeProvider? timeProvider = null)
        : this(service.GetTableClient(tableName), timeProvider)
    {
    }

    public CheckpointStore(TableClient table, TimeProvider? timeProvider = null)
    {
        _table = table;
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>For mocking.</summary>
    protected CheckpointStore()
    {
    }

    public virtual string TableName => _table.Name;

    public virtual async Task EnsureCreatedAsync(CancellationToken cancellationToken = default) =>
        await _table.CreateIfNotExistsAsync(cancellationToken);

    public virtual async Task<Checkpoint> ReadAsync(string log, string group, int partition, CancellationToken cancellationToken = default)
    {
        var row = await _table.GetEntityIfExistsAsync<TableEntity>(TableKeys.LogGroup(log, group), TableKeys.Partition(partition), cancellationToken: cancellationToken);
        return row.HasValue ? ToCheckpoint(row.Value!) : Checkpoint.Missing(partition);
    }

    public virtual async Task<IReadOnlyList<Checkpoint>> ListAsync(string log, string group, CancellationToken cancellationToken = default)
    {
        string filter = TableClient.CreateQueryFilter($"PartitionKey eq {TableKeys.LogGroup(log, group)}");
        var result = new List<Checkpoint>();
        await foreach (var row in _table.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken))
        {
            result.Add(ToCheckpoint(row));
        }

        result.Sort((a, b) => a.Partition.CompareTo(b.Partition));
        return result;
    }

    /// <summary>
    /// Called right after claiming the partition's lease: writes <paramref name="owner"/> and
    /// <paramref name="epoch"/> into the checkpoint row (creating it when missing), so that a
    /// stalled former owner, whose ETag is now stale, can no longer write. Fencing again with the
    /// same owner and epoch is idempotent.
    /// </summary>
    /// <exception cref="LeaseLostException">The row already carries a newer epoch (or the same epoch of another owner).</exception>
    public virtual async Task<FencedCheckpoint> FenceAsync(string log, string group, int partition, string owner, long epoch, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(owner);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(epoch);
        string pk = TableKeys.LogGroup(log, group);
        string rk = TableKeys.Partition(partition);

        for (int attempt = 0; attempt < MaxAttempts; attempt++)
        {
            var row = await _table.GetEntityIfExistsAsync<TableEntity>(pk, rk, cancellationToken: cancellationToken);
            if (!row.HasValue)
            {
                var created = new TableEntity(pk, rk)
                {
                    [PositionColumn] = Checkpoint.StartOfLog,
                    [OwnerColumn] = owner,
                    [EpochColumn] = epoch,
                    [FencedAtColumn] = _time.GetUtcNow(),
                };
                try
                {
                    var added = await _table.AddEntityAsync(created, cancellationToken);
                    return new FencedCheckpoint(log, group, partition, owner, epoch, Checkpoint.StartOfLog, null, added.Headers.ETag.GetValueOrDefault());
                }
                catch (RequestFailedException ex) when (ex.Status == TableKeys.Conflict)
                {
                    continue; // created concurrently: read it and fence it
                }
            }

            var current = ToCheckpoint(row.Value!);
            if (current.Epoch > epoch || (current.Epoch == epoch && current.Owner != owner))
            {
                throw new LeaseLostException(
                    $"Checkpoint {pk}/{rk} is fenced by {current.Owner} at epoch {current.Epoch}; {owner} at epoch {epoch} lost the partition.");
            }

            if (current.Epoch == epoch)
            {
                // Already ours (a retried fence whose first try landed).
                return new FencedCheckpoint(log, group, partition, owner, epoch, current.Position, current.State, current.ETag);
            }

            var fence = new TableEntity(pk, rk)
            {
                [OwnerColumn] = owner,
                [EpochColumn] = epoch,
                [FencedAtColumn] = _time.GetUtcNow(),
            };
            try
            {
                var updated = await _table.UpdateEntityAsync(fence, current.ETag, TableUpdateMode.Merge, cancellationToken);
                return new FencedCheckpoint(log, group, partition, owner, epoch, current.Position, current.State, updated.Headers.ETag.GetValueOrDefault());
            }
            catch (RequestFailedException ex) when (ex.Status is TableKeys.PreconditionFailed or TableKeys.NotFound)
            {
                // Someone wrote between our read and our write (a stalled former owner's last
                // update, a replay, a rival fence): read again and decide again.
            }
        }

        throw new LeaseLostException($"Checkpoint {pk}/{rk} kept changing under {owner} at epoch {epoch}; giving up the partition.");
    }

    /// <summary>
    /// Moves the checkpoint forward to <paramref name="position"/>, conditional on the handle's
    /// ETag. A <paramref name="state"/> of null leaves the stored state as it is.
    /// </summary>
    /// <exception cref="ArgumentException">The position is behind the handle's, or the state is too long.</exception>
    /// <exception cref="LeaseLostException">The row changed since this owner last wrote it: stop draining at once.</exception>
    public virtual async Task UpdateAsync(FencedCheckpoint handle, long position, string? state, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handle);
        if (position < handle.Position)
        {
            throw new ArgumentException(
                $"A checkpoint only moves forward: {position} is behind {handle.Position} (use ReplayAsync to move back).", nameof(position));
        }

        ValidateState(state);
        string pk = TableKeys.LogGroup(handle.Log, handle.Group);
        string rk = TableKeys.Partition(handle.Partition);
        string writeId = Guid.NewGuid().ToString("N");
        var entity = new TableEntity(pk, rk)
        {
            [PositionColumn] = position,
            [UpdatedAtColumn] = _time.GetUtcNow(),
            [UpdatedByColumn] = handle.Owner,
            [WriteIdColumn] = writeId,
        };
        if (state != null)
        {
            entity[StateColumn] = state;
        }

        try
        {
            var updated = await _table.UpdateEntityAsync(entity, handle.ETag, TableUpdateMode.Merge, cancellationToken);
            handle.Advance(position, state, updated.Headers.ETag.GetValueOrDefault());
        }
        catch (RequestFailedException ex) when (ex.Status is TableKeys.PreconditionFailed or TableKeys.NotFound)
        {
            // The SDK retries a write whose response was lost; the retry then answers 412 although
            // the first try landed. Our write id in the row, under our fence, proves it did.
            var row = await _table.GetEntityIfExistsAsync<TableEntity>(pk, rk, cancellationToken: cancellationToken);
            if (row.HasValue
                && row.Value!.GetString(WriteIdColumn) == writeId
                && row.Value.GetString(OwnerColumn) == handle.Owner
                && row.Value.GetInt64(EpochColumn) == handle.Epoch)
            {
                handle.Advance(position, state, row.Value.ETag);
                return;
            }

            var current = row.HasValue ? ToCheckpoint(row.Value!) : null;
            throw new LeaseLostException(
                $"Checkpoint {pk}/{rk} changed under {handle.Owner} at epoch {handle.Epoch} " +
                $"(now {current?.Owner ?? "deleted"} at epoch {current?.Epoch ?? 0}); the partition is lost.",
                ex);
        }
    }

    /// <summary>
    /// Moves a checkpoint to <paramref name="toPosition"/>, backwards as well as forwards,
    /// recording who did it, when, and from where. Owner and epoch stay; the row's ETag changes,
    /// so a drainer active on the partition loses it (<see cref="LeaseLostException"/>) and the
    /// next claim resumes from the replayed position. The stored state is left as it is.
    /// </summary>
    public virtual Task<ReplayAudit> ReplayAsync(string log, string group, int partition, long toPosition, string by, CancellationToken cancellationToken = default) =>
        MoveAsync(log, group, partition, toPosition, by, null, cancellationToken);

    /// <summary>
    /// Starts (or restarts) <paramref name="tenant"/>'s replay cursor on a partition: its
    /// checkpoint row moves to <paramref name="from"/>, audited like <see cref="ReplayAsync"/>,
    /// and records <paramref name="end"/>. A drain active on an earlier cursor of the same tenant
    /// and partition loses its fence and stops; the next one starts over from here.
    /// </summary>
    public virtual async Task<ReplayCursor> StartCursorAsync(string log, string tenant, int partition, long from, long end, string by, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(end, Checkpoint.StartOfLog);
        var cursor = new Dictionary<string, object>
        {
            [CursorTenantColumn] = tenant,
            [CursorStartColumn] = from,
            [CursorEndColumn] = end,
        };
        var audit = await MoveAsync(log, ReplayCursor.GroupOf(tenant), partition, from, by, cursor, cancellationToken);
        return new ReplayCursor(tenant, partition, from, end, from, by, audit.At, audit.At);
    }

    /// <summary>A tenant's replay cursor on a partition, or null when there is none.</summary>
    public virtual async Task<ReplayCursor?> ReadCursorAsync(string log, string tenant, int partition, CancellationToken cancellationToken = default)
    {
        var row = await _table.GetEntityIfExistsAsync<TableEntity>(TableKeys.LogGroup(log, ReplayCursor.GroupOf(tenant)), TableKeys.Partition(partition), cancellationToken: cancellationToken);
        return row.HasValue ? ToCursor(row.Value!) : null;
    }

    /// <summary>Every replay cursor of a log, done ones included, by tenant and partition (one range query).</summary>
    public virtual async Task<IReadOnlyList<ReplayCursor>> ListCursorsAsync(string log, CancellationToken cancellationToken = default)
    {
        string filter = TableKeys.GroupPrefixFilter(log, ReplayCursor.GroupPrefix);
        var result = new List<ReplayCursor>();
        await foreach (var row in _table.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken))
        {
            if (ToCursor(row) is { } cursor)
            {
                result.Add(cursor);
            }
        }

        result.Sort((a, b) => string.CompareOrdinal(a.Tenant, b.Tenant) is var byTenant and not 0 ? byTenant : a.Partition.CompareTo(b.Partition));
        return result;
    }

    private async Task<ReplayAudit> MoveAsync(string log, string group, int partition, long toPosition, string by, IReadOnlyDictionary<string, object>? extra, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(toPosition, Checkpoint.StartOfLog);
        ArgumentException.ThrowIfNullOrEmpty(by);
        string pk = TableKeys.LogGroup(log, group);
        string rk = TableKeys.Partition(partition);

        for (int attempt = 0; attempt < MaxAttempts; attempt++)
        {
            var row = await _table.GetEntityIfExistsAsync<TableEntity>(pk, rk, cancellationToken: cancellationToken);
            var current = row.HasValue ? ToCheckpoint(row.Value!) : Checkpoint.Missing(partition);
            var audit = new ReplayAudit(by, _time.GetUtcNow(), current.Position, toPosition, (current.LastReplay?.Count ?? 0) + 1);
            var entity = new TableEntity(pk, rk)
            {
                [PositionColumn] = toPosition,
                [UpdatedAtColumn] = audit.At,
                [UpdatedByColumn] = by,
                [LastReplayByColumn] = audit.By,
                [LastReplayAtColumn] = audit.At,
                [LastReplayFromColumn] = audit.From,
                [LastReplayToColumn] = audit.To,
                [ReplayCountColumn] = audit.Count,
            };
            foreach (var (column, value) in extra ?? new Dictionary<string, object>())
            {
                entity[column] = value;
            }

            try
            {
                if (row.HasValue)
                {
                    await _table.UpdateEntityAsync(entity, current.ETag, TableUpdateMode.Merge, cancellationToken);
                }
                else
                {
                    await _table.AddEntityAsync(entity, cancellationToken);
                }

                return audit;
            }
            catch (RequestFailedException ex) when (TableKeys.IsConcurrencyLoss(ex))
            {
                // Changed under us (a drainer's checkpoint): read again so the audit's "from" is true.
            }
        }

        throw new InvalidOperationException($"Checkpoint {pk}/{rk} kept changing; replay to {toPosition} not applied.");
    }

    /// <exception cref="ArgumentException">The state is longer than <see cref="MaxStateChars"/>.</exception>
    public static void ValidateState(string? state)
    {
        if (state != null && state.Length > MaxStateChars)
        {
            throw new ArgumentException($"Checkpoint state is {state.Length} characters; a table string property holds at most {MaxStateChars}.", nameof(state));
        }
    }

    private static Checkpoint ToCheckpoint(TableEntity row)
    {
        var replayAt = row.GetDateTimeOffset(LastReplayAtColumn);
        return new Checkpoint(
            TableKeys.ParsePartition(row.RowKey),
            row.GetInt64(PositionColumn) ?? Checkpoint.StartOfLog,
            NullIfEmpty(row.GetString(OwnerColumn)),
            row.GetInt64(EpochColumn) ?? 0,
            row.GetDateTimeOffset(UpdatedAtColumn),
            row.GetString(UpdatedByColumn),
            row.GetString(StateColumn),
            row.ETag)
        {
            LastReplay = replayAt is { } at
                ? new ReplayAudit(
                    row.GetString(LastReplayByColumn) ?? "",
                    at,
                    row.GetInt64(LastReplayFromColumn) ?? Checkpoint.StartOfLog,
                    row.GetInt64(LastReplayToColumn) ?? Checkpoint.StartOfLog,
                    row.GetInt64(ReplayCountColumn) ?? 1)
                : null,
        };
    }

    private static ReplayCursor? ToCursor(TableEntity row)
    {
        if (row.GetString(CursorTenantColumn) is not { Length: > 0 } tenant || row.GetInt64(CursorEndColumn) is not long end)
        {
            return null;
        }

        var checkpoint = ToCheckpoint(row);
        return new ReplayCursor(
            tenant,
            checkpoint.Partition,
            row.GetInt64(CursorStartColumn) ?? Checkpoint.StartOfLog,
            end,
            checkpoint.Position,
            checkpoint.LastReplay?.By ?? "",
            checkpoint.LastReplay?.At ?? DateTimeOffset.MinValue,
            checkpoint.UpdatedAt);
    }

    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;
}
