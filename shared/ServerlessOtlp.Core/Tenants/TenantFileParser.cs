using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using ServerlessOtlp.Export;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Pipeline.Ottl;

namespace ServerlessOtlp.Tenants;

/// <summary>
/// Reads and validates a tenant file (CONTRACTS.md, "Tenant file"). A file that does not
/// validate is refused as a whole with every problem found, each with the file, the line and
/// the field path, so that nothing is refused later at run time. Two rounds: the JSON's shape
/// (syntax, unknown fields, value kinds, enum names, durations, required fields), then — when
/// the shape is right — the rules between values (ranges, uniqueness, URLs, secrets, OTTL).
/// </summary>
public static partial class TenantFileParser
{
    /// <summary>Destination names appear in metrics, dead-letter paths and <c>otlpctl --destination</c>.</summary>
    public const string DestinationNamePattern = @"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\z";

    private static readonly JsonReaderOptions ReaderOptions = new()
    {
        CommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    private static readonly JsonDocumentOptions DocumentOptions = new()
    {
        CommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    /// <summary>Reads the file at <paramref name="path"/>; errors name it as given.</summary>
    public static TenantFile ParseFile(string path, IOttlValidator? ottl = null, TenantFileRules? rules = null, ICollection<TenantConfigError>? warnings = null) =>
        Parse(File.ReadAllText(path), path, ottl, rules, warnings);

    /// <summary>
    /// The validated model, with defaults filled in (a destination's <c>signals</c>). OTTL is
    /// checked by <paramref name="ottl"/>, by default the pipeline's own <see cref="OttlValidator"/>.
    /// Throws <see cref="TenantConfigException"/> listing every problem. <paramref name="rules"/> say
    /// what the deployment allows (by default a deployment's: file paths under the operator's root);
    /// what is accepted but worth saying (OTTL functions of an agent config our subset does not know)
    /// goes to <paramref name="warnings"/>.
    /// </summary>
    public static TenantFile Parse(string json, string fileName, IOttlValidator? ottl = null, TenantFileRules? rules = null, ICollection<TenantConfigError>? warnings = null)
    {
        var errors = new List<TenantConfigError>();
        byte[] utf8 = Encoding.UTF8.GetBytes(json.StartsWith('\uFEFF') ? json[1..] : json);
        JsonLineMap lines;
        try
        {
            lines = JsonLineMap.Build(utf8, ReaderOptions, (path, message) => errors.Add(new TenantConfigError(fileName, null, null, path, message)));
        }
        catch (JsonException ex)
        {
            throw new TenantConfigException([SyntaxError(ex, fileName)]);
        }

        TenantConfigError At(string path, string message) => new(fileName, lines.LineOf(path), null, path, message);
        for (int i = 0; i < errors.Count; i++)
        {
            errors[i] = At(errors[i].Path!, errors[i].Message);
        }

        using var document = JsonDocument.Parse(utf8, DocumentOptions);
        new JsonShape(TenantJson.Options, (path, message) => errors.Add(At(path, message)))
            .Check(document.RootElement, typeof(TenantFile), "", "tenant file");
        if (errors.Count > 0)
        {
            throw new TenantConfigException(errors);
        }

        var file = Normalize(document.RootElement.Deserialize(TenantJson.TypeInfo<TenantFile>())!);
        new Rules((path, message) => errors.Add(At(path, message)), ottl ?? new OttlValidator(), rules ?? TenantFileRules.Deployment, (path, message) => warnings?.Add(At(path, message))).Check(file);
        if (errors.Count > 0)
        {
            throw new TenantConfigException(errors);
        }

        return file;
    }

    /// <summary>
    /// The rules between values for a model built in code (no lines); empty when valid.
    /// <see cref="Parse"/> applies them too.
    /// </summary>
    public static IReadOnlyList<TenantConfigError> Validate(TenantFile file, IOttlValidator? ottl = null, TenantFileRules? rules = null)
    {
        var errors = new List<TenantConfigError>();
        new Rules((path, message) => errors.Add(new TenantConfigError(null, null, null, path, message)), ottl ?? new OttlValidator(), rules ?? TenantFileRules.Deployment).Check(Normalize(file));
        return errors;
    }

    /// <summary>Fills defaults: a destination without <c>signals</c> gets every signal its kind carries.</summary>
    internal static TenantFile Normalize(TenantFile file)
    {
        bool changed = false;
        var tenants = new List<TenantConfig>(file.Tenants.Count);
        foreach (var tenant in file.Tenants)
        {
            var destinations = new List<DestinationConfig>(tenant.Destinations.Count);
            foreach (var d in tenant.Destinations)
            {
                bool fill = d.Signals.Count == 0 && DestinationKinds.Find(d.Kind) is not null;
                destinations.Add(fill ? d with { Signals = DestinationKinds.Find(d.Kind)!.Signals } : d);
                changed |= fill;
            }

            tenants.Add(tenant with { Destinations = destinations });
        }

        return changed ? file with { Tenants = tenants } : file;
    }

    private static TenantConfigError SyntaxError(JsonException ex, string fileName)
    {
        // The reader's message ends with its own " LineNumber: n | BytePositionInLine: m." (0-based).
        string message = ex.Message;
        int at = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        if (at > 0)
        {
            message = message[..at];
        }

        int? line = ex.LineNumber is long l ? (int)l + 1 : null;
        int? column = ex.BytePositionInLine is long c ? (int)c + 1 : null;
        return new TenantConfigError(fileName, line, column, null, "invalid JSON: " + message);
    }

    [GeneratedRegex(DestinationNamePattern, RegexOptions.CultureInvariant)]
    private static partial Regex DestinationNameRegex();

    // RFC 9110 §5.6.2 token.
    [GeneratedRegex("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", RegexOptions.CultureInvariant)]
    private static partial Regex HeaderNameRegex();

    /// <summary>The rules between values, on a model whose shape is right.</summary>
    private sealed class Rules(Action<string, string> error, IOttlValidator? ottl, TenantFileRules rules, Action<string, string>? warning = null)
    {
        public void Check(TenantFile file)
        {
            var ids = new Dictionary<string, string>(StringComparer.Ordinal);
            var keys = new Dictionary<string, string>(StringComparer.Ordinal);
            for (int t = 0; t < file.Tenants.Count; t++)
            {
                var tenant = file.Tenants[t];
                string path = JsonPaths.Index("tenants", t);
                string idPath = path + ".id";
                if (TenantIds.Check(tenant.Id) is { } idProblem)
                {
                    error(idPath, idProblem);
                }
                else if (!ids.TryAdd(tenant.Id, idPath))
                {
                    error(idPath, $"duplicate tenant id \"{tenant.Id}\" (also {ids[tenant.Id]})");
                }

                CheckKeys(tenant, path, keys);
                CheckLimits(tenant.Limits, path + ".limits");
                CheckSampling(tenant.Sampling, path + ".sampling");
                CheckStatements(tenant.Transforms, path + ".transforms", OttlContexts.Transform);
                CheckStatements(tenant.Filters, path + ".filters", OttlContexts.Filter);
                CheckDistinct(tenant.Redaction, path + ".redaction", "redaction preset");
                CheckDestinations(tenant, path + ".destinations");
                AgentConfigRules.Check(tenant.Agents, path + ".agents", ottl, error, warning ?? ((_, _) => { }));
            }
        }

        private void CheckKeys(TenantConfig tenant, string tenantPath, Dictionary<string, string> keys)
        {
            if (tenant.ApiKeys is null)
            {
                return;
            }

            for (int k = 0; k < tenant.ApiKeys.Count; k++)
            {
                // Never echo a key: messages end up in terminals, logs and CI output.
                string key = tenant.ApiKeys[k];
                string path = JsonPaths.Index(tenantPath + ".apiKeys", k);
                if (key.Length < ApiKey.MinLength)
                {
                    error(path, $"an API key must have at least {ApiKey.MinLength} characters (this one has {key.Length}); `otlpctl tenants add` generates good ones");
                }
                else if (key.Length > ApiKey.MaxLength)
                {
                    error(path, $"an API key must have at most {ApiKey.MaxLength} characters");
                }
                else if (key.AsSpan().IndexOfAnyExceptInRange(' ', '~') >= 0 || key[0] == ' ' || key[^1] == ' ')
                {
                    // It travels in an HTTP header, whose value is trimmed (RFC 9110 §5.5).
                    error(path, "an API key must be printable ASCII, without leading or trailing spaces");
                }
                else if (!keys.TryAdd(key, path))
                {
                    error(path, $"duplicate API key (also {keys[key]}); a key identifies exactly one tenant");
                }
            }
        }

        private void CheckLimits(TenantLimits? limits, string path)
        {
            if (limits?.ItemsPerSecond is <= 0)
            {
                error(path + ".itemsPerSecond", "must be greater than 0 (leave it out for no limit)");
            }

            if (limits?.BytesPerSecond is <= 0)
            {
                error(path + ".bytesPerSecond", "must be greater than 0 (leave it out for no limit)");
            }
        }

        private void CheckSampling(SamplingConfig? sampling, string path)
        {
            if (sampling?.Traces is { } traces)
            {
                CheckPercentage(traces.SamplingPercentage, path + ".traces.samplingPercentage");
                if (traces.Precision is < 1 or > TraceSamplingConfig.MaxPrecision)
                {
                    error(path + ".traces.precision", $"must be between 1 and {TraceSamplingConfig.MaxPrecision} (hexadecimal digits of the threshold), got {traces.Precision}");
                }
            }

            if (sampling?.Tail is { } tail)
            {
                if (tail.DecisionWait <= TimeSpan.Zero)
                {
                    error(path + ".tail.decisionWait", "must be greater than 0");
                }

                CheckPolicies(tail.Policies, path + ".tail.policies");
            }
        }

        private void CheckPercentage(double value, string path)
        {
            if (!(value is >= 0 and <= 100))
            {
                error(path, $"must be between 0 and 100, got {value}");
            }
        }

        /// <param name="within">The enclosing and/composite, if any: as in the Collector, composite does not nest.</param>
        private void CheckPolicies(IReadOnlyList<TailPolicy> policies, string listPath, string? within = null)
        {
            var names = new Dictionary<string, string>(StringComparer.Ordinal);
            for (int p = 0; p < policies.Count; p++)
            {
                var policy = policies[p];
                string path = JsonPaths.Index(listPath, p);
                if (string.IsNullOrWhiteSpace(policy.Name))
                {
                    error(path + ".name", "must not be empty");
                }
                else if (!names.TryAdd(policy.Name, path))
                {
                    error(path + ".name", $"duplicate policy name \"{policy.Name}\" (also {names[policy.Name]})");
                }

                if (within is not null && policy.Type == TailPolicyType.Composite)
                {
                    error(path + ".type", $"a composite policy cannot be nested inside \"{within}\"");
                }

                CheckPolicyBlocks(policy, path);
                CheckPolicySettings(policy, path);
            }
        }

        private void CheckPolicyBlocks(TailPolicy policy, string path)
        {
            (string Field, TailPolicyType Type, bool Present)[] blocks =
            [
                ("latency", TailPolicyType.Latency, policy.Latency is not null),
                ("statusCode", TailPolicyType.StatusCode, policy.StatusCode is not null),
                ("stringAttribute", TailPolicyType.StringAttribute, policy.StringAttribute is not null),
                ("numericAttribute", TailPolicyType.NumericAttribute, policy.NumericAttribute is not null),
                ("probabilistic", TailPolicyType.Probabilistic, policy.Probabilistic is not null),
                ("spanCount", TailPolicyType.SpanCount, policy.SpanCount is not null),
                ("rateLimiting", TailPolicyType.RateLimiting, policy.RateLimiting is not null),
                ("and", TailPolicyType.And, policy.And is not null),
                ("composite", TailPolicyType.Composite, policy.Composite is not null),
            ];
            foreach (var (field, type, present) in blocks)
            {
                if (type == policy.Type && !present)
                {
                    error(path + "." + field, $"is required for type \"{TypeName(type)}\"");
                }
                else if (type != policy.Type && present)
                {
                    error(path + "." + field, $"does not belong to a policy of type \"{TypeName(policy.Type)}\"");
                }
            }
        }

        private static string TypeName(TailPolicyType type) => JsonShape.EnumNames(typeof(TailPolicyType))[(int)type];

        private void CheckPolicySettings(TailPolicy policy, string path)
        {
            if (policy.Latency is { } latency)
            {
                if (latency.Threshold < TimeSpan.Zero)
                {
                    error(path + ".latency.threshold", "must not be negative");
                }

                if (latency.UpperThreshold is { } upper && upper <= latency.Threshold)
                {
                    error(path + ".latency.upperThreshold", "must be greater than threshold");
                }
            }

            if (policy.StatusCode is { } status)
            {
                if (status.StatusCodes.Count == 0)
                {
                    error(path + ".statusCode.statusCodes", "must list at least one of UNSET, OK, ERROR");
                }

                CheckDistinct(status.StatusCodes, path + ".statusCode.statusCodes", "status code");
            }

            if (policy.StringAttribute is { } strings)
            {
                CheckNotBlank(strings.Key, path + ".stringAttribute.key");
                if (strings.Values.Count == 0)
                {
                    error(path + ".stringAttribute.values", "must list at least one value");
                }

                for (int v = 0; strings.EnabledRegexMatching && v < strings.Values.Count; v++)
                {
                    try
                    {
                        _ = new Regex(strings.Values[v], RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
                    }
                    catch (ArgumentException ex)
                    {
                        error(JsonPaths.Index(path + ".stringAttribute.values", v), "invalid regular expression: " + ex.Message);
                    }
                }
            }

            if (policy.NumericAttribute is { } numbers)
            {
                CheckNotBlank(numbers.Key, path + ".numericAttribute.key");
                if (numbers.MinValue is null && numbers.MaxValue is null)
                {
                    error(path + ".numericAttribute", "needs minValue, maxValue or both");
                }
                else if (numbers.MinValue > numbers.MaxValue)
                {
                    error(path + ".numericAttribute.maxValue", "must not be less than minValue");
                }
            }

            if (policy.Probabilistic is { } probabilistic)
            {
                CheckPercentage(probabilistic.SamplingPercentage, path + ".probabilistic.samplingPercentage");
            }

            if (policy.SpanCount is { } count)
            {
                if (count.MinSpans < 1)
                {
                    error(path + ".spanCount.minSpans", "must be at least 1");
                }

                if (count.MaxSpans < count.MinSpans)
                {
                    error(path + ".spanCount.maxSpans", "must not be less than minSpans");
                }
            }

            if (policy.RateLimiting is { SpansPerSecond: <= 0 })
            {
                error(path + ".rateLimiting.spansPerSecond", "must be greater than 0");
            }

            if (policy.And is { } and)
            {
                if (and.Policies.Count == 0)
                {
                    error(path + ".and.policies", "must list at least one policy");
                }

                CheckPolicies(and.Policies, path + ".and.policies", "and");
            }

            if (policy.Composite is { } composite)
            {
                CheckComposite(composite, path + ".composite");
            }
        }

        private void CheckComposite(CompositePolicy composite, string path)
        {
            if (composite.MaxTotalSpansPerSecond <= 0)
            {
                error(path + ".maxTotalSpansPerSecond", "must be greater than 0");
            }

            if (composite.SubPolicies.Count == 0)
            {
                error(path + ".subPolicies", "must list at least one policy");
            }

            CheckPolicies(composite.SubPolicies, path + ".subPolicies", "composite");
            var names = composite.SubPolicies.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
            for (int o = 0; o < composite.PolicyOrder.Count; o++)
            {
                if (!names.Contains(composite.PolicyOrder[o]))
                {
                    error(JsonPaths.Index(path + ".policyOrder", o), $"no sub-policy is named \"{composite.PolicyOrder[o]}\"");
                }
            }

            CheckDistinct(composite.PolicyOrder, path + ".policyOrder", "policy name");
            double total = 0;
            var allocated = new HashSet<string>(StringComparer.Ordinal);
            for (int a = 0; a < composite.RateAllocation.Count; a++)
            {
                var allocation = composite.RateAllocation[a];
                string allocationPath = JsonPaths.Index(path + ".rateAllocation", a);
                if (!names.Contains(allocation.Policy))
                {
                    error(allocationPath + ".policy", $"no sub-policy is named \"{allocation.Policy}\"");
                }
                else if (!allocated.Add(allocation.Policy))
                {
                    error(allocationPath + ".policy", $"\"{allocation.Policy}\" already has an allocation");
                }

                CheckPercentage(allocation.Percent, allocationPath + ".percent");
                total += allocation.Percent;
            }

            if (total > 100)
            {
                error(path + ".rateAllocation", $"percents must sum to at most 100, got {total}");
            }
        }

        private void CheckStatements(OttlStatements? statements, string path, Func<Signal, string> context)
        {
            if (statements is null)
            {
                return;
            }

            foreach (var signal in (ReadOnlySpan<Signal>)[Signal.Traces, Signal.Metrics, Signal.Logs])
            {
                var list = statements.For(signal);
                string listPath = path + "." + signal.ToName();
                for (int s = 0; s < list.Count; s++)
                {
                    CheckOttl(list[s], JsonPaths.Index(listPath, s), context(signal));
                }
            }
        }

        private void CheckOttl(string statement, string path, string context)
        {
            if (string.IsNullOrWhiteSpace(statement))
            {
                error(path, OttlContexts.IsCondition(context) ? "an OTTL condition must not be empty" : "an OTTL statement must not be empty");
            }
            else if (ottl?.Validate(statement, context) is { } problem)
            {
                error(path, problem);
            }
        }

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

        private void CheckPositive(TimeSpan? value, string path)
        {
            if (value is { } v && v <= TimeSpan.Zero)
            {
                error(path, "must be greater than 0");
            }
        }

        private void CheckNotBlank(string? value, string path, string message = "must not be empty")
        {
            if (string.IsNullOrWhiteSpace(value))
            {
                error(path, message);
            }
        }

        private void CheckDistinct<T>(IReadOnlyList<T> values, string listPath, string what)
        {
            var seen = new HashSet<T>();
            for (int i = 0; i < values.Count; i++)
            {
                if (!seen.Add(values[i]))
                {
                    error(JsonPaths.Index(listPath, i), $"duplicate {what}");
                }
            }
        }
    }
}
