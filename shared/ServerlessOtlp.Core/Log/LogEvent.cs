using ServerlessOtlp.Otlp;

namespace ServerlessOtlp.Log;

/// <summary>How an event body is encoded. Stored in every event; do not renumber.</summary>
public enum BodyCodec : byte
{
    /// <summary>An OTLP export request of the event's signal, protobuf-encoded, uncompressed.</summary>
    Protobuf = 1,
}

/// <summary>The properties every log event carries (CONTRACTS.md, "Partitioned log").</summary>
public sealed record EventProperties(
    string Tenant,
    Signal Signal,
    BodyCodec Codec,
    int ItemCount,
    DateTimeOffset ReceivedAt,
    string GatewayId,
    int FormatVersion = EventProperties.CurrentFormatVersion)
{
    /// <summary>Version of the event layout and the partition function (<see cref="Otlp.Wire.PartitionFunction.Version"/>).</summary>
    public const int CurrentFormatVersion = 1;

    // Property names on Event Hubs events (and the blob log's record header).
    public const string TenantKey = "tenant";
    public const string SignalKey = "signal";
    public const string CodecKey = "codec";
    public const string ItemCountKey = "items";
    public const string ReceivedAtKey = "receivedAt";
    public const string GatewayKey = "gateway";
    public const string FormatVersionKey = "format";
}

/// <summary>An event to append: one tenant, one signal, one partition.</summary>
public readonly record struct LogEvent(EventProperties Properties, ReadOnlyMemory<byte> Body);

/// <summary>
/// A position in one partition of the log, ordered. For Event Hubs it is the sequence number;
/// for the blob log it is <c>segment &lt;&lt; 40 | byte offset</c>. <see cref="Start"/> means "from the
/// beginning of what the log still holds".
/// </summary>
public readonly record struct LogPosition(long Value) : IComparable<LogPosition>
{
    public static LogPosition Start { get; } = new(-1);

    public bool IsStart => Value < 0;

    public int CompareTo(LogPosition other) => Value.CompareTo(other.Value);

    public static bool operator <(LogPosition a, LogPosition b) => a.Value < b.Value;

    public static bool operator >(LogPosition a, LogPosition b) => a.Value > b.Value;

    public static bool operator <=(LogPosition a, LogPosition b) => a.Value <= b.Value;

    public static bool operator >=(LogPosition a, LogPosition b) => a.Value >= b.Value;

    public override string ToString() => Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>An event read from the log. <see cref="Next"/> is the position to checkpoint after it.</summary>
public sealed record ReadEvent(
    LogPosition Position,
    LogPosition Next,
    EventProperties? Properties,
    ReadOnlyMemory<byte> Body,
    string? CorruptReason = null,
    string? OffsetString = null)
{
    /// <summary>True when the record could not be read (bad framing or CRC); the body holds the raw bytes.</summary>
    public bool IsCorrupt => CorruptReason != null;
}

/// <summary>A batch read from one partition; <see cref="Next"/> is where the next read starts.</summary>
public sealed record ReadBatch(IReadOnlyList<ReadEvent> Events, LogPosition Next);
