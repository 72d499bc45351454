namespace ServerlessOtlp.EventHubsEmulator;

/// <summary>What one emulator serves: a single Event Hub on a loopback port.</summary>
public sealed class EmulatorOptions
{
    /// <summary>The service's largest event or batch on the Standard tier: 1 MiB.</summary>
    public const long DefaultMaxMessageSize = 1_048_576;

    /// <summary>The official emulator's key name and key, so its connection strings work here too.</summary>
    public const string DefaultSharedAccessKeyName = "RootManageSharedAccessKey";

    public const string DefaultSharedAccessKey = "SAS_KEY_VALUE";

    /// <summary>The TCP port on 127.0.0.1; 0 lets the OS choose (read it back from <see cref="EventHubsEmulator.Port"/>).</summary>
    public int Port { get; set; }

    public int Partitions { get; set; } = 2;

    public string HubName { get; set; } = "otlp";

    /// <summary>Consumer groups besides $Default, which always exists.</summary>
    public IReadOnlyList<string> ConsumerGroups { get; set; } = [];

    /// <summary>Advertised as the publishers' max-message-size; larger transfers are rejected.</summary>
    public long MaxMessageSize { get; set; } = DefaultMaxMessageSize;

    /// <summary>How long events stay readable; the service's default is one day.</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(1);

    /// <summary>The clock for enqueued times and retention.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    public string SharedAccessKeyName { get; set; } = DefaultSharedAccessKeyName;

    public string SharedAccessKey { get; set; } = DefaultSharedAccessKey;

    /// <summary>Where errors are written; stderr when null (stdout carries the connection string).</summary>
    public TextWriter? ErrorLog { get; set; }

    internal void Validate()
    {
        if (Port is < 0 or > 65_535)
        {
            throw new ArgumentOutOfRangeException(nameof(Port), Port, "The port must be 0 (any) or a TCP port.");
        }

        // The service allows up to 1024 partitions on its dedicated tier.
        if (Partitions is < 1 or > 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(Partitions), Partitions, "An Event Hub has 1 to 1024 partitions.");
        }

        if (string.IsNullOrWhiteSpace(HubName) || HubName.Contains('/', StringComparison.Ordinal))
        {
            throw new ArgumentException("The hub name must be a non-empty name without '/'.", nameof(HubName));
        }

        foreach (string group in ConsumerGroups)
        {
            if (string.IsNullOrWhiteSpace(group) || group.Contains('/', StringComparison.Ordinal))
            {
                throw new ArgumentException($"The consumer group name '{group}' is not valid.", nameof(ConsumerGroups));
            }
        }

        if (MaxMessageSize < 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxMessageSize), MaxMessageSize, "The max message size must be at least 1 KiB.");
        }

        if (Retention <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(Retention), Retention, "Retention must be positive.");
        }
    }
}
