using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Processing;

/// <summary>
/// What a redrive did: letters delivered and removed, refused again (re-written with the new
/// reason, the old one removed), failing transiently (kept), and skipped with why.
/// </summary>
public sealed record RedriveResult(int Delivered, int Failed, int Retry, int Skipped, IReadOnlyList<string> SkipReasons);

/// <summary>
/// Re-sends dead letters once their destination is fixed: <c>otlpctl deadletter redrive</c> and
/// the Functions' <c>POST admin/deadletters/redrive</c> both call this, so there is one behaviour.
/// </summary>
public sealed class DeadLetterRedrive(ProcessingServices services, ILogger<DeadLetterRedrive>? logger = null)
{
    /// <summary>The "gateway" id in the properties of a redriven event.</summary>
    public const string Source = "redrive";

    private readonly ILogger _logger = (ILogger?)logger ?? NullLogger.Instance;

    /// <summary>
    /// Re-processes each matching dead letter through the tenant pipeline. A letter that names a
    /// destination goes to that destination only (the others had it already). It is deleted when
    /// delivered; when it fails again the pipeline writes a new dead letter and the old one is
    /// deleted too (the new one carries the new reason); a transient failure keeps it.
    /// </summary>
    public async Task<RedriveResult> RedriveAsync(string? tenant, string? destination, CancellationToken cancellationToken = default)
    {
        int delivered = 0, failed = 0, retry = 0;
        var skipped = new List<string>();
        foreach (var letter in await services.DeadLetters.ListAsync(tenant, cancellationToken))
        {
            if (destination != null && letter.Destination != destination)
            {
                continue;
            }

            if (!SignalNames.TryParse(letter.Signal, out var signal))
            {
                skipped.Add($"{letter.Id}: no signal recorded, cannot be redriven");
                continue;
            }

            if (letter.Destination is { } named && await services.Tenants.GetAsync(letter.Tenant, cancellationToken) is { } config && config.Destinations.All(d => d.Name != named))
            {
                skipped.Add($"{letter.Id}: tenant {letter.Tenant} has no destination \"{named}\" any more; kept");
                continue;
            }

            var found = await services.DeadLetters.GetAsync(letter.Id, cancellationToken);
            if (found is null)
            {
                continue; // redriven by someone else meanwhile
            }

            var body = found.Value.Body.ToMemory();
            var properties = new EventProperties(letter.Tenant, signal, BodyCodec.Protobuf, 0, letter.At, Source);
            var readEvent = new ReadEvent(new LogPosition(letter.Position), new LogPosition(letter.Position + 1), properties, body);
            var processor = letter.Destination is { } only
                ? services.CreateProcessor(new OneDestinationDirectory(services.Tenants, only))
                : services.Processor;
            switch (await processor.ProcessAsync(letter.Partition, readEvent, cancellationToken))
            {
                case EventFate.Delivered:
                    await services.DeadLetters.DeleteAsync(letter.Id, cancellationToken);
                    delivered++;
                    break;
                case EventFate.DeadLettered:
                    // The pipeline wrote it again with the current reason: keep only that one.
                    await services.DeadLetters.DeleteAsync(letter.Id, cancellationToken);
                    failed++;
                    break;
                default:
                    retry++;
                    break;
            }
        }

        foreach (string reason in skipped)
        {
            _logger.LogWarning("Redrive skipped {Reason}", reason);
        }

        return new RedriveResult(delivered, failed, retry, skipped.Count, skipped);
    }

    /// <summary>The tenants, each narrowed to one destination.</summary>
    private sealed class OneDestinationDirectory(ITenantDirectory inner, string destination) : ITenantDirectory
    {
        public async ValueTask<TenantConfig?> AuthenticateAsync(string apiKey, CancellationToken cancellationToken = default) =>
            Narrow(await inner.AuthenticateAsync(apiKey, cancellationToken));

        public bool TryAuthenticateFromMemory(string apiKey, out TenantConfig? tenant)
        {
            bool known = inner.TryAuthenticateFromMemory(apiKey, out tenant);
            tenant = Narrow(tenant);
            return known;
        }

        public async ValueTask<TenantConfig?> GetAsync(string tenantId, CancellationToken cancellationToken = default) =>
            Narrow(await inner.GetAsync(tenantId, cancellationToken));

        private TenantConfig? Narrow(TenantConfig? config) =>
            config is null ? null : config with { Destinations = config.Destinations.Where(d => d.Name == destination).ToList() };
    }
}
