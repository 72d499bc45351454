namespace ServerlessOtlp.EventHubsEmulator.Implementation;

/// <summary>
/// A link address split into its segments. The .NET SDK sends absolute paths ("/hub/Partitions/0"), the
/// JavaScript SDK relative ones ("hub/ConsumerGroups/$Default/Partitions/0"); some clients send full URIs.
/// </summary>
internal readonly record struct EntityAddress(string[] Segments)
{
    public static EntityAddress Parse(string address)
    {
        string path = address.Contains("://", StringComparison.Ordinal) && Uri.TryCreate(address, UriKind.Absolute, out Uri? uri)
            ? Uri.UnescapeDataString(uri.AbsolutePath)
            : address;
        return new EntityAddress(path.Split('/', StringSplitOptions.RemoveEmptyEntries));
    }

    /// <summary>"hub" (Partition is null) or "hub/Partitions/N".</summary>
    public bool IsPublisher(out string hub, out string? partition)
    {
        hub = Segments.Length > 0 ? Segments[0] : string.Empty;
        partition = null;
        if (Segments.Length == 1)
        {
            return true;
        }

        if (Segments.Length == 3 && Is(1, "Partitions"))
        {
            partition = Segments[2];
            return true;
        }

        return false;
    }

    /// <summary>"hub/ConsumerGroups/G/Partitions/N".</summary>
    public bool IsConsumer(out string hub, out string consumerGroup, out string partition)
    {
        bool matches = Segments.Length == 5 && Is(1, "ConsumerGroups") && Is(3, "Partitions");
        hub = matches ? Segments[0] : string.Empty;
        consumerGroup = matches ? Segments[2] : string.Empty;
        partition = matches ? Segments[4] : string.Empty;
        return matches;
    }

    public override string ToString() => string.Join('/', Segments);

    private bool Is(int index, string name) => string.Equals(Segments[index], name, StringComparison.OrdinalIgnoreCase);
}
