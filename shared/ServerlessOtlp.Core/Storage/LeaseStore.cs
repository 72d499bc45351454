using Azure;
using Azure.Data.Tables;

namespace ServerlessOtlp.Storage;

/// <summary>
/// Partition leases in Table storage: one row per (log|group, partition) with Owner, Epoch and
/// the lease's TTL. Expiry is the service's own <c>Timestamp</c> of the last write plus the TTL,
/// compared with the service's <c>Date</c>: no local clock takes part, so skewed machines cannot
/// both hold a lease. Every write is conditional on an ETag; losing a race is an outcome.
/// </summary>
public class LeaseStore
{
    private const string OwnerColumn = "Owner";
    private const string EpochColumn = "Epoch";
    private const string TtlColumn = "TtlMs";
    private const string ExpiredColumn = "Expired"; // set by the failure detector
    private const string LastOwnerColumn = "LastOwner"; // who held it before a release, for operators

    private readonly TableClient _table = null!;

    public LeaseStore(TableServiceClient service, string tableName = StorageNames.DefaultLeases)
        : this(service.GetTableClient(tableName))
    {
    }

    public LeaseStore(TableClient table)
    {
        _table = table;
    }

    /// <summary>For mocking.</summary>
    protected LeaseStore()
    {
    }

    public virtual string TableName => _table.Name;

    public virtual async Task EnsureCreatedAsync(CancellationToken cancellationToken = default) =>
        await _table.CreateIfNotExistsAsync(cancellationToken);

    /// <summary>
    /// Claims the lease when it is free, expired, or already <paramref name="owner"/>'s; every
    /// claim increments the epoch. A live lease of another owner, or a lost race, gives
    /// <c>Claimed = false</c>.
    /// </summary>
    public virtual async Task<LeaseClaim> TryClaimAsync(string log, string group, int partition, string owner, TimeSpan ttl, CancellationToken cancellationToken = default)
    {
        ValidateOwner(owner);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ttl, TimeSpan.Zero);
        string pk = TableKeys.LogGroup(log, group);
        string rk = TableKeys.Partition(partition);

        var row = await _table.GetEntityIfExistsAsync<TableEntity>(pk, rk, cancellationToken: cancellationToken);
        LeaseInfo? current = row.HasValue ? ToInfo(row.Value!, ServiceClock.Now(row.GetRawResponse())) : null;
        if (current != null && current.Owner != owner && !current.IsClaimable)
        {
            return new LeaseClaim(false, null, current);
        }

        long epoch = (current?.Epoch ?? 0) + 1;
        var claim = LeaseRow(pk, rk, owner, epoch, ttl);
        try
        {
            var written = current is null
                ? await _table.AddEntityAsync(claim, cancellationToken)
                : await _table.UpdateEntityAsync(claim, current.ETag, TableUpdateMode.Replace, cancellationToken);
            var serviceNow = ServiceClock.Now(written);
            var lease = new Lease(log, group, partition, owner, epoch, ttl, serviceNow, written.Headers.ETag.GetValueOrDefault());
            return new LeaseClaim(true, lease, ToInfo(lease, serviceNow));
        }
        catch (RequestFailedException ex) when (TableKeys.IsConcurrencyLoss(ex))
        {
            // Another claimer won between our read and our write, or a retry of our own winning
            // write answered 409/412: the row tells which.
            var after = await ReadInfoAsync(pk, rk, partition, cancellationToken);
            if (after.Owner == owner && after.Epoch == epoch && !after.IsExpired)
            {
                var lease = new Lease(log, group, partition, owner, epoch, ttl, after.RenewedAt!.Value, after.ETag);
                return new LeaseClaim(true, lease, after);
            }

            return new LeaseClaim(false, null, after);
        }
    }

    /// <summary>
    /// Renews the lease, conditional on its ETag. On 412 it re-reads: a row still owned by us at
    /// the same epoch and not expired means a retried renewal whose first try won, so it is a
    /// success. Otherwise the lease is lost: false.
    /// </summary>
    public virtual async Task<bool> RenewAsync(Lease lease, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lease);
        string pk = TableKeys.LogGroup(lease.Log, lease.Group);
        string rk = TableKeys.Partition(lease.Partition);
        try
        {
            var written = await _table.UpdateEntityAsync(LeaseRow(pk, rk, lease.Owner, lease.Epoch, lease.Ttl), lease.ETag, TableUpdateMode.Replace, cancellationToken);
            lease.Renewed(written.Headers.ETag.GetValueOrDefault(), ServiceClock.Now(written));
            return true;
        }
        catch (RequestFailedException ex) when (ex.Status == TableKeys.NotFound)
        {
            return false;
        }
        catch (RequestFailedException ex) when (ex.Status == TableKeys.PreconditionFailed)
        {
            var row = await _table.GetEntityIfExistsAsync<TableEntity>(pk, rk, cancellationToken: cancellationToken);
            if (!row.HasValue)
            {
                return false;
            }

            var current = ToInfo(row.Value!, ServiceClock.Now(row.GetRawResponse()));
            if (current.Owner == lease.Owner && current.Epoch == lease.Epoch && !current.IsExpired)
            {
                lease.Renewed(current.ETag, current.RenewedAt!.Value);
                return true;
            }

            return false;
        }
    }

    /// <summary>Gives the lease up: clears the owner, keeps the epoch. Idempotent; false when it was no longer ours (fine).</summary>
    public virtual async Task<bool> ReleaseAsync(Lease lease, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lease);
        var row = new TableEntity(TableKeys.LogGroup(lease.Log, lease.Group), TableKeys.Partition(lease.Partition))
        {
            [OwnerColumn] = "",
            [EpochColumn] = lease.Epoch,
            [TtlColumn] = (long)lease.Ttl.TotalMilliseconds,
            [LastOwnerColumn] = lease.Owner,
        };
        try
        {
            await _table.UpdateEntityAsync(row, lease.ETag, TableUpdateMode.Replace, cancellationToken);
            return true;
        }
        catch (RequestFailedException ex) when (ex.Status == TableKeys.NotFound)
        {
            return false;
        }
        catch (RequestFailedException ex) when (ex.Status == TableKeys.PreconditionFailed)
        {
            var after = await _table.GetEntityIfExistsAsync<TableEntity>(row.PartitionKey, row.RowKey, cancellationToken: cancellationToken);
            if (!after.HasValue || after.Value!.GetInt64(EpochColumn) != lease.Epoch)
            {
                return false; // claimed again since: not ours to release
            }

            string? owner = after.Value.GetString(OwnerColumn);
            if (string.IsNullOrEmpty(owner))
            {
                // A retried release whose first try landed leaves the row free, at our epoch, with us as last owner.
                return after.Value.GetString(LastOwnerColumn) == lease.Owner;
            }

            if (owner != lease.Owner)
            {
                return false;
            }

            // Still ours at our epoch: a renewal that landed after its caller stopped waiting for it (the drain
            // cancels its renewal loop before releasing) moved the ETag. Release from the row as it is, instead
            // of leaving the partition to wait out the TTL.
            try
            {
                await _table.UpdateEntityAsync(row, after.Value.ETag, TableUpdateMode.Replace, cancellationToken);
                return true;
            }
            catch (RequestFailedException again) when (again.Status == TableKeys.PreconditionFailed)
            {
                return false;
            }
        }
    }

    /// <summary>
    /// For the failure detector: marks the lease expired when <paramref name="deadOwner"/> still
    /// holds it, so that another instance may claim it at once. Conditional on the row just read;
    /// false when the owner changed or the row moved meanwhile.
    /// </summary>
    public virtual async Task<bool> ExpireAsync(string log, string group, int partition, string deadOwner, CancellationToken cancellationToken = default)
    {
        ValidateOwner(deadOwner);
        string pk = TableKeys.LogGroup(log, group);
        string rk = TableKeys.Partition(partition);
        var row = await _table.GetEntityIfExistsAsync<TableEntity>(pk, rk, cancellationToken: cancellationToken);
        if (!row.HasValue || row.Value!.GetString(OwnerColumn) != deadOwner || row.Value.GetBoolean(ExpiredColumn) == true)
        {
            return false;
        }

        var mark = new TableEntity(pk, rk) { [ExpiredColumn] = true };
        try
        {
            await _table.UpdateEntityAsync(mark, row.Value.ETag, TableUpdateMode.Merge, cancellationToken);
            return true;
        }
        catch (RequestFailedException ex) when (ex.Status is TableKeys.PreconditionFailed or TableKeys.NotFound)
        {
            return false;
        }
    }

    public virtual async Task<LeaseInfo> ReadAsync(string log, string group, int partition, CancellationToken cancellationToken = default) =>
        await ReadInfoAsync(TableKeys.LogGroup(log, group), TableKeys.Partition(partition), partition, cancellationToken);

    /// <summary>All leases of a log and consumer group, by partition, with expiry judged by service time.</summary>
    public virtual async Task<IReadOnlyList<LeaseInfo>> ListAsync(string log, string group, CancellationToken cancellationToken = default)
    {
        string filter = TableClient.CreateQueryFilter($"PartitionKey eq {TableKeys.LogGroup(log, group)}");
        var result = new List<LeaseInfo>();
        await foreach (var page in _table.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken).AsPages())
        {
            var serviceNow = ServiceClock.Now(page.GetRawResponse());
            foreach (var row in page.Values)
            {
                result.Add(ToInfo(row, serviceNow));
            }
        }

        result.Sort((a, b) => a.Partition.CompareTo(b.Partition));
        return result;
    }

    /// <summary>
    /// The leases of every replay cursor of a log (consumer groups <c>replay:&lt;tenant&gt;</c>) with
    /// their group: one range query, as the cursors' groups share a prefix.
    /// </summary>
    public virtual async Task<IReadOnlyList<(string Group, LeaseInfo Lease)>> ListCursorLeasesAsync(string log, CancellationToken cancellationToken = default)
    {
        string filter = TableKeys.GroupPrefixFilter(log, ReplayCursor.GroupPrefix);
        var result = new List<(string, LeaseInfo)>();
        await foreach (var page in _table.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken).AsPages())
        {
            var serviceNow = ServiceClock.Now(page.GetRawResponse());
            foreach (var row in page.Values)
            {
                result.Add((row.PartitionKey[(log.Length + 1)..], ToInfo(row, serviceNow)));
            }
        }

        return result;
    }

    private async Task<LeaseInfo> ReadInfoAsync(string pk, string rk, int partition, CancellationToken cancellationToken)
    {
        var row = await _table.GetEntityIfExistsAsync<TableEntity>(pk, rk, cancellationToken: cancellationToken);
        var serviceNow = ServiceClock.Now(row.GetRawResponse());
        return row.HasValue
            ? ToInfo(row.Value!, serviceNow)
            : new LeaseInfo(partition, null, 0, TimeSpan.Zero, null, null, false, serviceNow, default);
    }

    private static TableEntity LeaseRow(string pk, string rk, string owner, long epoch, TimeSpan ttl) =>
        new(pk, rk)
        {
            [OwnerColumn] = owner,
            [EpochColumn] = epoch,
            [TtlColumn] = (long)ttl.TotalMilliseconds,
        };

    private static LeaseInfo ToInfo(TableEntity row, DateTimeOffset serviceNow)
    {
        string? owner = row.GetString(OwnerColumn) is { Length: > 0 } o ? o : null;
        var ttl = TimeSpan.FromMilliseconds(row.GetInt64(TtlColumn) ?? 0);
        DateTimeOffset? renewedAt = row.Timestamp;
        DateTimeOffset? expiresAt = owner is null ? null : renewedAt + ttl;
        bool expired = owner is not null
            && (row.GetBoolean(ExpiredColumn) == true || ServiceClock.IsExpired(renewedAt ?? DateTimeOffset.MinValue, ttl, serviceNow));
        return new LeaseInfo(TableKeys.ParsePartition(row.RowKey), owner, row.GetInt64(EpochColumn) ?? 0, ttl, renewedAt, expiresAt, expired, serviceNow, row.ETag);
    }

    private static LeaseInfo ToInfo(Lease lease, DateTimeOffset serviceNow) =>
        new(lease.Partition, lease.Owner, lease.Epoch, lease.Ttl, lease.RenewedAt, lease.ExpiresAt, false, serviceNow, lease.ETag);

    private static void ValidateOwner(string owner) => ArgumentException.ThrowIfNullOrEmpty(owner);
}
