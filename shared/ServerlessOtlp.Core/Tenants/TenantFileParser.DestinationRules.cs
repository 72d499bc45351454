using ServerlessOtlp.Export;
using ServerlessOtlp.Otlp;

namespace ServerlessOtlp.Tenants;

// The rules of a tenant's destinations: names, kinds and their settings, signals, headers, delivery.
public static partial class TenantFileParser
{
    private sealed partial class Rules
    {
        private void CheckDestinations(TenantConfig tenant, string listPath)
        {
            var names = new Dictionary<string, string>(StringComparer.Ordinal);
            for (int d = 0; d < tenant.Destinations.Count; d++)
            {
                var destination = tenant.Destinations[d];
                string path = JsonPaths.Index(listPath, d);
                if (destination.Name is null || !DestinationNameRegex().IsMatch(destination.Name))
                {
                    error(path + ".name", $"\"{destination.Name}\" is not a valid destination name; expected 1 to 64 of A-Z a-z 0-9 _ . - starting with a letter or digit");
                }
                else if (!names.TryAdd(destination.Name, path))
                {
                    error(path + ".name", $"duplicate destination name \"{destination.Name}\" (also {names[destination.Name]})");
                }

                var kind = DestinationKinds.Find(destination.Kind);
                if (kind is null)
                {
                    error(path + ".kind", $"unknown destination kind \"{destination.Kind}\"; expected one of {string.Join(", ", DestinationKinds.Names)}");
                }
                else
                {
                    CheckSignals(destination, kind, path);
                    kind.Validate(destination, new DestinationCheck(path, rules, error));
                }

                CheckHeaders(destination, path);
                if (destination.When is not null)
                {
                    foreach (var signal in destination.Signals)
                    {
                        CheckOttl(destination.When, path + ".when", OttlContexts.When(signal));
                    }
                }

                CheckDelivery(destination, path);
            }
        }

        private void CheckSignals(DestinationConfig destination, IDestinationFactory kind, string path)
        {
            var seen = new HashSet<Signal>();
            for (int s = 0; s < destination.Signals.Count; s++)
            {
                var signal = destination.Signals[s];
                string signalPath = JsonPaths.Index(path + ".signals", s);
                if (!kind.Signals.Contains(signal))
                {
                    error(signalPath, $"a {kind.Kind} destination carries {string.Join(", ", kind.Signals.Select(a => a.ToName()))} only, not {signal.ToName()}");
                }
                else if (!seen.Add(signal))
                {
                    error(signalPath, $"duplicate signal \"{signal.ToName()}\"");
                }
            }
        }

        private void CheckHeaders(DestinationConfig destination, string path)
        {
            var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (var (name, value) in destination.Headers)
            {
                string headerPath = JsonPaths.Property(path + ".headers", name);
                if (!HeaderNameRegex().IsMatch(name))
                {
                    error(headerPath, $"\"{name}\" is not a valid HTTP header name");
                    continue;
                }

                if (!seen.Add(name))
                {
                    error(headerPath, $"duplicate header \"{name}\" (header names are case-insensitive)");
                }

                if (SecretReference.IsReference(value))
                {
                    if (!SecretReference.TryParse(value, out _))
                    {
                        // Nothing path-like: NAME only ever names a secret of this tenant's own namespace.
                        error(headerPath, $"invalid secret reference; expected secret:NAME with NAME {SecretReference.NameExpected} (a secret in the tenant's own namespace; see `otlpctl secrets name`)");
                    }
                }
                else if (SecretReference.IsCredentialHeader(name))
                {
                    // Do not echo the value: it is a credential.
                    error(headerPath, $"\"{name}\" carries a credential: its value must be a secret:NAME reference (resolved in the tenant's namespace, from configuration or Key Vault), never plain text");
                }
                else if (value.AsSpan().IndexOfAnyInRange('\0', '\u001f') >= 0 || value.Contains('\u007f'))
                {
                    error(headerPath, "a header value must not contain control characters");
                }
            }
        }

        private void CheckDelivery(DestinationConfig destination, string path)
        {
            if (destination.Timeout is { } timeout && timeout <= TimeSpan.Zero)
            {
                error(path + ".timeout", "must be greater than 0");
            }

            if (destination.Retry is { } retry)
            {
                CheckPositive(retry.InitialInterval, path + ".retry.initialInterval");
                CheckPositive(retry.MaxInterval, path + ".retry.maxInterval");
                CheckPositive(retry.MaxElapsed, path + ".retry.maxElapsed");
                if (retry.MaxInterval < retry.InitialInterval)
                {
                    error(path + ".retry.maxInterval", "must not be less than initialInterval");
                }
            }

            if (destination.Batch is { } batch)
            {
                // A batch lives in the drain's memory until it is sent: bounded for every tenant.
                if (batch.MaxItems is <= 0 or > Processing.DestinationBatches.MaxItemsLimit)
                {
                    error(path + ".batch.maxItems", $"must be between 1 and {Processing.DestinationBatches.MaxItemsLimit}");
                }

                if (batch.MaxBytes is <= 0 or > Processing.DestinationBatches.MaxBytesLimit)
                {
                    error(path + ".batch.maxBytes", $"must be between 1 and {Processing.DestinationBatches.MaxBytesLimit} (16 MiB)");
                }

                CheckPositive(batch.FlushInterval, path + ".batch.flushInterval");
            }
        }
    }
}
