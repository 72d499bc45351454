using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Export;

/// <summary>Settings of the retry store's drainer (<c>ServerlessOtlp:RetryStore</c>).</summary>
public sealed class RetryStoreOptions
{
    public const string Section = "ServerlessOtlp:RetryStore";

    /// <summary>A batch not delivered within this time of its first failure goes to the dead-letter store.</summary>
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Destinations re-sent at once by one drain round.</summary>
    public int MaxConcurrentDestinations { get; set; } = 8;

    /// <summary>Reads <c>MaxAge</c> (a TimeSpan, <c>1.00:00:00</c>) and <c>MaxConcurrentDestinations</c>; throws <see cref="InvalidOperationException"/> naming a value that does not parse.</summary>
    public static RetryStoreOptions FromConfiguration(Microsoft.Extensions.Configuration.IConfiguration configuration)
    {
        var section = configuration.GetSection(Section);
        var options = new RetryStoreOptions();
        if (section["MaxAge"] is { } age)
        {
            options.MaxAge = TimeSpan.TryParse(age, System.Globalization.CultureInfo.InvariantCulture, out var a) && a > TimeSpan.Zero
                ? a
                : throw new InvalidOperationException($"{Section}:MaxAge: \"{age}\" is not a positive duration such as 1.00:00:00");
        }

        if (section["MaxConcurrentDestinations"] is { } concurrent)
        {
            options.MaxConcurrentDestinations = int.TryParse(concurrent, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int c) && c > 0
                ? c
                : throw new InvalidOperationException($"{Section}:MaxConcurrentDestinations: \"{concurrent}\" is not a positive whole number");
        }

        return options;
    }
}

/// <summary>
/// Re-sends the retry store, oldest first per (tenant, destination), through the destination's
/// resilience pipeline: a destination is drained while it accepts and left alone at its first
/// transient failure (its open breaker then refuses further tries cheaply until it is probed again).
/// Delivered entries are deleted; permanently refused or expired ones move to the dead-letter store.
/// Called every few seconds by the local runner and by a Functions timer.
/// </summary>
public sealed class RetryStoreDrainer
{
    /// <summary>Dead letters that did not come from a log position carry this partition and position.</summary>
    public const int NoPartition = -1;

    private readonly RetryStore _store;
    private readonly ResilientExporter _exporter;
    private readonly ITenantDirectory _tenants;
    private readonly DeadLetterStore _deadLetters;
    private readonly RetryStoreOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public RetryStoreDrainer(RetryStore store, ResilientExporter exporter, ITenantDirectory tenants, DeadLetterStore deadLetters, RetryStoreOptions? options = null, TimeProvider? time = null, ILogger<RetryStoreDrainer>? logger = null, RetryStoreMetrics? metrics = null)
    {
        Metrics = metrics ?? new RetryStoreMetrics(time: time);
        _store = store;
        _exporter = exporter;
        _tenants = tenants;
        _deadLetters = deadLetters;
        _options = options ?? new RetryStoreOptions();
        _time = time ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>The backlog gauges, updated by every round.</summary>
    public RetryStoreMetrics Metrics { get; }

    /// <summary>One round over the whole store; returns how many entries were settled (delivered or dead-lettered).</summary>
    public async Task<int> DrainOnceAsync(CancellationToken cancellationToken = default)
    {
        var entries = await _store.ListAsync(cancellationToken: cancellationToken);
        Metrics.Update(entries);
        if (entries.Count == 0)
        {
            return 0;
        }

        // The listing is in name order: tenant/destination/first-failure ticks, i.e. oldest first per destination.
        var groups = entries.GroupBy(e => (e.Tenant, e.Destination)).Select(g => g.ToList()).ToList();
        int settled = 0;
        var settledIds = new System.Collections.Concurrent.ConcurrentDictionary<string, bool>(StringComparer.Ordinal);
        await Parallel.ForEachAsync(
            groups,
            new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, _options.MaxConcurrentDestinations), CancellationToken = cancellationToken },
            async (group, ct) => Interlocked.Add(ref settled, await DrainDestinationAsync(group, settledIds, ct)));

        // Settled entries are the first of their destination's (oldest first): what remains is the rest.
        var remaining = new List<RetryEntry>(entries.Count);
        foreach (var group in groups)
        {
            remaining.AddRange(group.Where(e => !settledIds.ContainsKey(e.Id)));
        }

        Metrics.Update(remaining);
        return settled;
    }

    private async Task<int> DrainDestinationAsync(List<RetryEntry> entries, System.Collections.Concurrent.ConcurrentDictionary<string, bool> settledIds, CancellationToken cancellationToken)
    {
        var first = entries[0];
        var tenant = await _tenants.GetAsync(first.Tenant, cancellationToken);
        var destination = tenant?.Destinations.FirstOrDefault(d => d.Name == first.Destination);
        int settled = 0;
        foreach (var entry in entries)
        {
            var claim = await _store.ClaimAsync(entry, cancellationToken);
            if (claim == null)
            {
                return settled; // another drainer has it (or it is gone): keep the order, leave the rest to it
            }

            var age = _time.GetUtcNow() - entry.FirstFailure;
            if (age > _options.MaxAge)
            {
                await DeadLetterAsync(claim, $"undelivered after {age.TotalHours:0.#} h and {entry.Attempts} attempts: {entry.LastError}", cancellationToken);
                settled++;
                settledIds[entry.Id] = true;
                continue;
            }

            if (tenant == null || destination == null)
            {
                await DeadLetterAsync(claim, $"destination {entry.Tenant}/{entry.Destination} is no longer configured", cancellationToken);
                settled++;
                settledIds[entry.Id] = true;
                continue;
            }

            IMessage message;
            try
            {
                message = Processing.Stages.DecodeStage.ParserFor(entry.Signal).ParseFrom(claim.Body.ToMemory().Span);
            }
            catch (InvalidProtocolBufferException ex)
            {
                await DeadLetterAsync(claim, "undecodable retry-store entry: " + ex.Message, cancellationToken);
                settled++;
                settledIds[entry.Id] = true;
                continue;
            }

            var outcome = await _exporter.ExportAsync(new ExportRequest(tenant, destination, entry.Signal, message, claim.Body.ToMemory()), cancellationToken);
            switch (outcome.Status)
            {
                case ExportStatus.Success:
                    if (outcome.RejectedItems > 0)
                    {
                        _logger.LogWarning("Retry store {Tenant}/{Destination}: {Message}", entry.Tenant, entry.Destination, outcome.Message);
                    }

                    await _store.DeleteAsync(claim, cancellationToken);
                    settled++;
                    settledIds[entry.Id] = true;
                    break;
                case ExportStatus.Permanent:
                    await DeadLetterAsync(claim, outcome.Message ?? "refused", cancellationToken);
                    settled++;
                    settledIds[entry.Id] = true;
                    break;
                default:
                    // Still failing: keep the order, try this destination again next round.
                    await _store.ReleaseAsync(claim, outcome.Message ?? "failed", cancellationToken);
                    _logger.LogDebug("Retry store {Tenant}/{Destination}: still failing ({Message}); {Left} entries wait", entry.Tenant, entry.Destination, outcome.Message, entries.Count - settled);
                    return settled;
            }
        }

        if (settled > 0)
        {
            _logger.LogInformation("Retry store {Tenant}/{Destination}: {Settled} entries settled", first.Tenant, first.Destination, settled);
        }

        return settled;
    }

    private async Task DeadLetterAsync(RetryClaim claim, string reason, CancellationToken cancellationToken)
    {
        var e = claim.Entry;
        _logger.LogWarning("Retry store {Tenant}/{Destination}: dead-lettered: {Reason}", e.Tenant, e.Destination, reason);
        await _deadLetters.WriteAsync(e.Tenant, e.Destination, e.Signal, NoPartition, NoPartition, reason, claim.Body.ToMemory(), cancellationToken);
        await _store.DeleteAsync(claim, cancellationToken);
    }
}
