using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Azure.Amqp;
using Microsoft.Azure.Amqp.Encoding;
using Microsoft.Azure.Amqp.Framing;

namespace ServerlessOtlp.EventHubsEmulator.Implementation;

internal enum StartField
{
    Offset,
    SequenceNumber,
    EnqueuedTimeUnixMilliseconds,
}

/// <summary>
/// Where a reader starts, from the link's selector filter. Every field is monotonic within a partition, so
/// "the first event this admits" is a binary search and every later event is admitted too.
/// </summary>
internal readonly record struct StartPosition(StartField Field, long Value, bool Inclusive)
{
    /// <summary>The filter key the SDKs put in the source's filter set.</summary>
    public static readonly AmqpSymbol SelectorFilterName = "apache.org:selector-filter:string";

    /// <summary>Offsets are decimal strings here; the SDK sends "@latest" for EventPosition.Latest.</summary>
    private const string LatestOffset = "@latest";

    private static readonly Regex Expression = new(
        @"^\s*amqp\.annotation\.(?<field>x-opt-offset|x-opt-sequence-number|x-opt-enqueued-time)\s*(?<op>>=|>)\s*'?(?<value>[^']*?)'?\s*$",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);

    public static StartPosition Earliest => new(StartField.Offset, -1, Inclusive: false);

    public bool Admits(StoredEvent stored)
    {
        long actual = Field switch
        {
            StartField.Offset => stored.Offset,
            StartField.SequenceNumber => stored.SequenceNumber,
            _ => stored.EnqueuedTime.ToUnixTimeMilliseconds(),
        };
        return Inclusive ? actual >= Value : actual > Value;
    }

    /// <summary>
    /// Reads the source's selector filter (absent means the start of the partition). "@latest" resolves
    /// against the partition now, so only events enqueued after the attach reach the reader.
    /// </summary>
    public static StartPosition FromSource(Source? source, PartitionLog partition)
    {
        string? expression = FindExpression(source?.FilterSet);
        if (expression is null)
        {
            return Earliest;
        }

        Match match = Expression.Match(expression);
        if (!match.Success)
        {
            throw new AmqpException(AmqpErrorCode.InvalidField, $"The selector filter '{expression}' is not supported.");
        }

        string field = match.Groups["field"].Value.ToLowerInvariant();
        bool inclusive = match.Groups["op"].Value == ">=";
        string value = match.Groups["value"].Value.Trim();
        if (field == "x-opt-offset" && value == LatestOffset)
        {
            return new StartPosition(StartField.SequenceNumber, partition.NextSequenceNumber, Inclusive: true);
        }

        if (!long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long number))
        {
            throw new AmqpException(AmqpErrorCode.InvalidField, $"The selector filter '{expression}' has an invalid value.");
        }

        StartField kind = field switch
        {
            "x-opt-offset" => StartField.Offset,
            "x-opt-sequence-number" => StartField.SequenceNumber,
            _ => StartField.EnqueuedTimeUnixMilliseconds,
        };
        return new StartPosition(kind, number, inclusive);
    }

    private static string? FindExpression(FilterSet? filters)
    {
        if (filters is null)
        {
            return null;
        }

        foreach (KeyValuePair<MapKey, object> filter in filters)
        {
            if (filter.Key.Key is AmqpSymbol name && name.Equals(SelectorFilterName))
            {
                return filter.Value switch
                {
                    DescribedType described => described.Value as string,
                    string text => text,
                    _ => null,
                };
            }
        }

        return null;
    }
}
