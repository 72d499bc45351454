using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ServerlessOtlp.Tenants;

/// <summary>
/// Durations as the tenant file writes them: Go's <c>time.ParseDuration</c> syntax, which
/// Collector users know — one or more decimal numbers with a unit (<c>ns</c>, <c>us</c>,
/// <c>µs</c>, <c>ms</c>, <c>s</c>, <c>m</c>, <c>h</c>): "10s", "500ms", "2m", "1m30s", "1.5s".
/// Negative durations are refused; "0" is zero.
/// </summary>
public static class ConfigDuration
{
    public const string Expected = "expected a number with a unit ns, us, ms, s, m or h (e.g. \"10s\", \"500ms\", \"1m30s\")";

    public static TimeSpan Parse(string text) =>
        TryParse(text, out var value) ? value : throw new FormatException($"invalid duration \"{text}\"; {Expected}");

    public static bool TryParse(ReadOnlySpan<char> text, out TimeSpan value)
    {
        value = default;
        if (text.IsEmpty)
        {
            return false;
        }

        if (text is "0")
        {
            value = TimeSpan.Zero;
            return true;
        }

        double ticks = 0;
        int i = 0;
        while (i < text.Length)
        {
            int start = i;
            while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] == '.'))
            {
                i++;
            }

            if (i == start || !double.TryParse(text[start..i], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double number))
            {
                return false;
            }

            int unitStart = i;
            while (i < text.Length && !char.IsAsciiDigit(text[i]) && text[i] != '.')
            {
                i++;
            }

            double unitTicks = text[unitStart..i] switch
            {
                "ns" => 0.01,
                "us" or "µs" or "μs" => TimeSpan.TicksPerMicrosecond,
                "ms" => TimeSpan.TicksPerMillisecond,
                "s" => TimeSpan.TicksPerSecond,
                "m" => TimeSpan.TicksPerMinute,
                "h" => TimeSpan.TicksPerHour,
                _ => -1,
            };
            if (unitTicks < 0)
            {
                return false;
            }

            ticks += number * unitTicks;
        }

        if (!(ticks <= TimeSpan.MaxValue.Ticks))
        {
            return false;
        }

        value = TimeSpan.FromTicks((long)Math.Round(ticks));
        return true;
    }

    /// <summary>The shortest single-unit form that is exact: 10 s → "10s", 1.5 s → "1500ms".</summary>
    public static string Format(TimeSpan value)
    {
        if (value < TimeSpan.Zero)
        {
            return "-" + Format(value.Negate());
        }

        long t = value.Ticks;
        return t switch
        {
            0 => "0s",
            _ when t % TimeSpan.TicksPerHour == 0 => (t / TimeSpan.TicksPerHour).ToString(CultureInfo.InvariantCulture) + "h",
            _ when t % TimeSpan.TicksPerMinute == 0 => (t / TimeSpan.TicksPerMinute).ToString(CultureInfo.InvariantCulture) + "m",
            _ when t % TimeSpan.TicksPerSecond == 0 => (t / TimeSpan.TicksPerSecond).ToString(CultureInfo.InvariantCulture) + "s",
            _ when t % TimeSpan.TicksPerMillisecond == 0 => (t / TimeSpan.TicksPerMillisecond).ToString(CultureInfo.InvariantCulture) + "ms",
            _ when t % TimeSpan.TicksPerMicrosecond == 0 => (t / TimeSpan.TicksPerMicrosecond).ToString(CultureInfo.InvariantCulture) + "us",
            _ => (t * 100).ToString(CultureInfo.InvariantCulture) + "ns",
        };
    }
}

/// <summary>Reads and writes <see cref="TimeSpan"/> as a <see cref="ConfigDuration"/> string.</summary>
internal sealed class DurationJsonConverter : JsonConverter<TimeSpan>
{
    public override TimeSpan Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String || !ConfigDuration.TryParse(reader.GetString(), out var value))
        {
            throw new JsonException($"invalid duration; {ConfigDuration.Expected}");
        }

        return value;
    }

    public override void Write(Utf8JsonWriter writer, TimeSpan value, JsonSerializerOptions options) =>
        writer.WriteStringValue(ConfigDuration.Format(value));
}
