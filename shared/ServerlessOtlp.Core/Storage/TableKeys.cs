using Azure;
using Azure.Data.Tables;

namespace ServerlessOtlp.Storage;

/// <summary>Row keys and status codes shared by the Table stores.</summary>
internal static class TableKeys
{
    // Table service status codes the stores treat as outcomes rather than failures.
    public const int NotFound = 404;
    public const int Conflict = 409; // add of an entity that exists
    public const int PreconditionFailed = 412; // If-Match ETag no longer current

    /// <summary>Separates log name and consumer group in a PartitionKey.</summary>
    public const char Separator = '|';

    /// <summary>PartitionKey for a (log, consumer group) pair: <c>log|group</c>.</summary>
    public static string LogGroup(string log, string group)
    {
        ValidateKeyPart(log, nameof(log), allowSeparator: false);
        ValidateKeyPart(group, nameof(group), allowSeparator: false);
        return string.Concat(log, Separator.ToString(), group);
    }

    /// <summary>
    /// A filter for the rows of every group of a log whose name starts with <paramref name="groupPrefix"/>:
    /// their PartitionKeys form one range, [log|prefix, log|prefix with its last character + 1).
    /// </summary>
    public static string GroupPrefixFilter(string log, string groupPrefix)
    {
        string first = LogGroup(log, groupPrefix);
        string after = first[..^1] + (char)(first[^1] + 1);
        return TableClient.CreateQueryFilter($"PartitionKey ge {first} and PartitionKey lt {after}");
    }

    /// <summary>RowKey for a partition: zero-padded so rows sort by partition number.</summary>
    public static string Partition(int partition)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(partition);
        return partition.ToString("D5");
    }

    public static int ParsePartition(string rowKey) => int.Parse(rowKey);

    public static bool IsConcurrencyLoss(RequestFailedException ex) =>
        ex.Status is PreconditionFailed or Conflict or NotFound;

    /// <summary>
    /// Rejects characters the Table service forbids in keys ('/', '\', '#', '?', control
    /// characters; see "Understanding the Table service data model") and, for parts of a
    /// composite key, our separator.
    /// </summary>
    public static void ValidateKeyPart(string value, string paramName, bool allowSeparator = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(value, paramName);
        foreach (char c in value)
        {
            if (c is '/' or '\\' or '#' or '?' || char.IsControl(c) || (!allowSeparator && c == Separator))
            {
                throw new ArgumentException($"'{value}' contains '{c}', which a table key cannot hold.", paramName);
            }
        }
    }
}
