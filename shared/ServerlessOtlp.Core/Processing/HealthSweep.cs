using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using ServerlessOtlp.Log;
using ServerlessOtlp.Storage;

namespace ServerlessOtlp.Processing;

/// <summary>Failure-detector settings (<c>ServerlessOtlp:Health</c>).</summary>
public sealed class HealthOptions
{
    public const string Section = "ServerlessOtlp:Health";

    /// <summary>A node silent for this long is suspect.</summary>
    public TimeSpan SuspectAfter { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>A node silent for this long is dead: its leases are expired so others resume its partitions.</summary>
    public TimeSpan DeadAfter { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// A drain worker whose local work (decode, sampling, transforms per event; never exports) averaged more
    /// than this over the last 30 s judges itself suspect: it reports so in its heartbeat, stops claiming
    /// partitions and hands back those it holds, so healthy instances take them; it rejoins once its average
    /// is back under this (or has aged out).
    /// </summary>
    public TimeSpan ResponseTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Dead and stopped nodes are removed from the table after this long.</summary>
    public TimeSpan ForgetAfter { get; set; } = TimeSpan.FromHours(24);

    /// <summary>What is wrong with these settings, or null (a zero response timeout would make every worker stand down).</summary>
    public string? Problem() =>
        SuspectAfter <= TimeSpan.Zero || DeadAfter < SuspectAfter ? "SuspectAfter must be positive and DeadAfter at least SuspectAfter"
        : ResponseTimeout <= TimeSpan.Zero ? "ResponseTimeout must be positive"
        : null;
}

/// <summary>
/// The HealthSweep timer's logic: heartbeats older than the timeouts make a node suspect, then
/// dead; the leases a dead node holds are expired at once instead of waiting for their TTL.
/// A Functions instance is judged by its drains: silent and holding no lease, it was scaled in and
/// is removed, so an app at zero shows no nodes rather than dead ones.
/// Ages come from the service's timestamps, so no local clock takes part.
/// </summary>
public sealed class HealthSweep
{
    private readonly NodeStore _nodes;
    private readonly LeaseStore _leases;
    private readonly IPartitionedLog _log;
    private readonly DrainOptions _drain;
    private readonly HealthOptions _options;
    private readonly ILogger _logger;

    public HealthSweep(NodeStore nodes, LeaseStore leases, IPartitionedLog log, DrainOptions drain, HealthOptions options, ILogger<HealthSweep>? logger = null)
    {
        _nodes = nodes;
        _leases = leases;
        _log = log;
        _drain = drain;
        _options = options;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    public sealed record SweepResult(int Suspect, int Dead, int LeasesExpired, int Removed);

    public async Task<SweepResult> SweepAsync(CancellationToken cancellationToken = default)
    {
        int suspect = 0, dead = 0, expired = 0, removed = 0;
        var nodes = await _nodes.ListAsync(cancellationToken: cancellationToken);
        IReadOnlyList<LeaseInfo>? leases = null;
        IReadOnlyList<(string Group, LeaseInfo Lease)>? cursorLeases = null;
        foreach (var node in nodes)
        {
            if (node.Status is NodeStatus.Dead or NodeStatus.Stopped)
            {
                if (node.Age > _options.ForgetAfter && await _nodes.RemoveAsync(node.Role, node.Id, node.ETag, cancellationToken))
                {
                    removed++;
                }

                continue;
            }

            if (node.Role == NodeRoles.Functions && node.Age >= _options.SuspectAfter)
            {
                // Functions instances heartbeat only while they drain. A silent one that holds nothing
                // was scaled in (or only ran a timer): it leaves the table instead of being called dead.
                leases ??= await _leases.ListAsync(_log.Name, _drain.ConsumerGroup, cancellationToken);
                cursorLeases ??= await _leases.ListCursorLeasesAsync(_log.Name, cancellationToken);
                if (!leases.Any(l => l.Owner == node.Id && !l.IsExpired) && !cursorLeases.Any(c => c.Lease.Owner == node.Id && !c.Lease.IsExpired))
                {
                    if (await _nodes.RemoveAsync(node.Role, node.Id, node.ETag, cancellationToken))
                    {
                        removed++;
                    }

                    continue;
                }
            }

            if (node.Age >= _options.DeadAfter)
            {
                if (!await _nodes.MarkAsync(node.Role, node.Id, NodeStatus.Dead, node.ETag, cancellationToken))
                {
                    continue; // it came back (or another sweeper got there first)
                }

                dead++;
                _logger.LogWarning("Node {Role}/{Id} is dead (silent for {Age}); expiring its leases", node.Role, node.Id, node.Age);
                leases ??= await _leases.ListAsync(_log.Name, _drain.ConsumerGroup, cancellationToken);
                foreach (var lease in leases.Where(l => l.Owner == node.Id && !l.IsExpired))
                {
                    if (await _leases.ExpireAsync(_log.Name, _drain.ConsumerGroup, lease.Partition, node.Id, cancellationToken))
                    {
                        expired++;
                    }
                }

                // Tenant replay cursors are drained under leases of their own groups: resume those at once too.
                cursorLeases ??= await _leases.ListCursorLeasesAsync(_log.Name, cancellationToken);
                foreach (var (group, lease) in cursorLeases.Where(c => c.Lease.Owner == node.Id && !c.Lease.IsExpired))
                {
                    if (await _leases.ExpireAsync(_log.Name, group, lease.Partition, node.Id, cancellationToken))
                    {
                        expired++;
                    }
                }
            }
            else if (node.Age >= _options.SuspectAfter && node.Status != NodeStatus.Suspect)
            {
                if (await _nodes.MarkAsync(node.Role, node.Id, NodeStatus.Suspect, node.ETag, cancellationToken))
                {
                    suspect++;
                }
            }
        }

        return new SweepResult(suspect, dead, expired, removed);
    }
}
