using System.Globalization;
using System.Text;

namespace ServerlessOtlp.Export.PrometheusRemoteWrite;

/// <summary>The kind of Prometheus series an OTLP metric becomes; decides the name's suffixes.</summary>
public enum PrometheusMetricType
{
    Gauge,
    Counter,
    Histogram,
    Summary,
}

/// <summary>
/// Metric and label names per the OpenTelemetry specification's "Prometheus and OpenMetrics
/// compatibility" (metric name from name + unit + type, label sanitization), with the unit table
/// of the Collector's Prometheus translator so both produce the same names. Pure functions.
/// </summary>
internal static class PrometheusNaming
{
    // UCUM units the specification names, and the Collector's translator table (normalize_name.go).
    private static readonly Dictionary<string, string> MainUnits = new(StringComparer.Ordinal)
    {
        // Time
        ["d"] = "days",
        ["h"] = "hours",
        ["min"] = "minutes",
        ["s"] = "seconds",
        ["ms"] = "milliseconds",
        ["us"] = "microseconds",
        ["ns"] = "nanoseconds",

        // Bytes
        ["By"] = "bytes",
        ["KiBy"] = "kibibytes",
        ["MiBy"] = "mebibytes",
        ["GiBy"] = "gibibytes",
        ["TiBy"] = "tibibytes",
        ["KBy"] = "kilobytes",
        ["MBy"] = "megabytes",
        ["GBy"] = "gigabytes",
        ["TBy"] = "terabytes",

        // SI
        ["m"] = "meters",
        ["V"] = "volts",
        ["A"] = "amperes",
        ["J"] = "joules",
        ["W"] = "watts",
        ["g"] = "grams",

        // Misc
        ["Cel"] = "celsius",
        ["Hz"] = "hertz",
        ["1"] = "",
        ["%"] = "percent",
    };

    // The denominator of a "X/Y" unit, singular ("By/s" → bytes_per_second).
    private static readonly Dictionary<string, string> PerUnits = new(StringComparer.Ordinal)
    {
        ["s"] = "second",
        ["m"] = "minute",
        ["h"] = "hour",
        ["d"] = "day",
        ["w"] = "week",
        ["mo"] = "month",
        ["y"] = "year",
    };

    /// <summary>
    /// The Prometheus metric name of an OTLP metric: the name's alphanumeric tokens joined with
    /// <c>_</c> (so invalid characters become one <c>_</c>), the unit's suffix unless the name has
    /// it already (annotations in braces dropped, <c>X/Y</c> → <c>X_per_Y</c>), <c>_total</c> for
    /// counters, <c>_ratio</c> for gauges of unit <c>1</c>, and <c>_</c> before a leading digit.
    /// </summary>
    public static string MetricName(string name, string? unit, PrometheusMetricType type)
    {
        var tokens = new List<string>(8);
        Tokenize(name, tokens);

        var (main, per) = UnitTokens(unit);
        if (main.Length > 0 && !tokens.Contains(main, StringComparer.Ordinal))
        {
            tokens.Add(main);
        }

        if (per.Length > 0 && !(tokens.Contains("per", StringComparer.Ordinal) && tokens.Contains(per, StringComparer.Ordinal)))
        {
            tokens.Add("per");
            tokens.Add(per);
        }

        if (type == PrometheusMetricType.Counter)
        {
            tokens.RemoveAll(t => t == "total");
            tokens.Add("total");
        }

        if (type == PrometheusMetricType.Gauge && unit == "1" && !tokens.Contains("ratio", StringComparer.Ordinal))
        {
            tokens.Add("ratio");
        }

        string joined = string.Join('_', tokens);
        return joined.Length > 0 && char.IsAsciiDigit(joined[0]) ? "_" + joined : joined;
    }

    /// <summary>The unit as Prometheus spells it (<c>ms</c> → <c>milliseconds</c>, <c>By/s</c> → <c>bytes_per_second</c>); empty for none.</summary>
    public static string UnitName(string? unit)
    {
        var (main, per) = UnitTokens(unit);
        return per.Length == 0 ? main : main.Length == 0 ? "per_" + per : main + "_per_" + per;
    }

    /// <summary>
    /// A valid Prometheus label name: characters outside <c>[a-zA-Z0-9_]</c> become <c>_</c>, a
    /// leading digit gets <c>key_</c>, a single leading underscore gets <c>key</c> (names starting
    /// with <c>__</c> are Prometheus's own and stay). Empty in, empty out.
    /// </summary>
    public static string LabelName(string name)
    {
        if (name.Length == 0)
        {
            return name;
        }

        bool valid = true;
        foreach (char c in name)
        {
            if (!IsLabelChar(c))
            {
                valid = false;
                break;
            }
        }

        string sanitized = valid ? name : Replace(name);
        if (char.IsAsciiDigit(sanitized[0]))
        {
            return "key_" + sanitized;
        }

        if (sanitized[0] == '_' && !sanitized.StartsWith("__", StringComparison.Ordinal))
        {
            return "key" + sanitized;
        }

        return sanitized;

        static string Replace(string name) => string.Create(name.Length, name, static (span, source) =>
        {
            for (int i = 0; i < span.Length; i++)
            {
                span[i] = IsLabelChar(source[i]) ? source[i] : '_';
            }
        });
    }

    /// <summary>
    /// A bucket bound or quantile as Prometheus clients write it (Go's <c>FormatFloat(v, 'g', -1, 64)</c>
    /// for ordinary values): <c>0.005</c>, <c>1e-05</c>, <c>+Inf</c>.
    /// </summary>
    public static string FormatFloat(double value)
    {
        if (double.IsPositiveInfinity(value))
        {
            return "+Inf";
        }

        if (double.IsNegativeInfinity(value))
        {
            return "-Inf";
        }

        if (double.IsNaN(value))
        {
            return "NaN";
        }

        string s = value.ToString("R", CultureInfo.InvariantCulture);
        int e = s.IndexOf('E', StringComparison.Ordinal);
        if (e < 0)
        {
            return s;
        }

        // .NET writes 1E-05 / 1E+21; Go writes 1e-05 / 1e+21 (at least two exponent digits).
        var sb = new StringBuilder(s.Length + 1);
        sb.Append(s, 0, e).Append('e').Append(s[e + 1]);
        string digits = s[(e + 2)..];
        if (digits.Length < 2)
        {
            sb.Append('0');
        }

        return sb.Append(digits).ToString();
    }

    private static bool IsLabelChar(char c) => char.IsAsciiLetterOrDigit(c) || c == '_';

    private static void Tokenize(string text, List<string> tokens)
    {
        int start = -1;
        for (int i = 0; i <= text.Length; i++)
        {
            bool word = i < text.Length && char.IsAsciiLetterOrDigit(text[i]);
            if (word && start < 0)
            {
                start = i;
            }
            else if (!word && start >= 0)
            {
                tokens.Add(text[start..i]);
                start = -1;
            }
        }
    }

    private static (string Main, string Per) UnitTokens(string? unit)
    {
        if (string.IsNullOrEmpty(unit))
        {
            return ("", "");
        }

        string stripped = StripAnnotations(unit);
        string mainPart = stripped, perPart = "";
        int slash = stripped.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            mainPart = stripped[..slash];
            perPart = stripped[(slash + 1)..];
        }

        string main = MainUnits.TryGetValue(mainPart.Trim(), out var m) ? m : CleanUnknown(mainPart);
        string per = PerUnits.TryGetValue(perPart.Trim(), out var p) ? p : CleanUnknown(perPart);
        return (main, per);
    }

    // "{request}" and "foo{bar}" lose their annotations.
    private static string StripAnnotations(string unit)
    {
        if (!unit.Contains('{', StringComparison.Ordinal))
        {
            return unit;
        }

        var sb = new StringBuilder(unit.Length);
        int depth = 0;
        foreach (char c in unit)
        {
            if (c == '{')
            {
                depth++;
            }
            else if (c == '}')
            {
                depth = Math.Max(0, depth - 1);
            }
            else if (depth == 0)
            {
                sb.Append(c);
            }
        }

        return sb.ToString();
    }

    // An unknown unit keeps its alphanumeric tokens, joined with "_".
    private static string CleanUnknown(string unit)
    {
        var tokens = new List<string>(2);
        Tokenize(unit, tokens);
        return string.Join('_', tokens);
    }
}
