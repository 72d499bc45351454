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
    private sealed partial class Rules(Action<string, string> error, IOttlValidator? ottl, TenantFileRules rules, Action<string, string>? warning = null)
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
