namespace ServerlessOtlp.Storage;

/// <summary>
/// Names of the tables, queue and blob containers the pipeline uses (DESIGN.md, "External
/// contracts"). Bind from configuration to override; the defaults are the documented ones.
/// </summary>
public sealed record StorageNames
{
    public const string DefaultCheckpoints = "checkpoints";
    public const string DefaultLeases = "leases";
    public const string DefaultNodes = "nodes";
    public const string DefaultTenants = "tenants";
    public const string DefaultDrainJobs = "drain-jobs";
    public const string DefaultLogContainer = "otlp-log";
    public const string DefaultRetryContainer = "retry";
    public const string DefaultDeadLetterContainer = "deadletter";
    public const string DefaultPartitionStateContainer = "drain-state";

    // Tables
    public string Checkpoints { get; init; } = DefaultCheckpoints;

    public string Leases { get; init; } = DefaultLeases;

    public string Nodes { get; init; } = DefaultNodes;

    public string Tenants { get; init; } = DefaultTenants;

    // Queues
    public string DrainJobs { get; init; } = DefaultDrainJobs;

    // Blob containers
    public string LogContainer { get; init; } = DefaultLogContainer;

    public string RetryContainer { get; init; } = DefaultRetryContainer;

    public string DeadLetterContainer { get; init; } = DefaultDeadLetterContainer;

    /// <summary>Partition state snapshots referenced from checkpoints (delta → cumulative totals).</summary>
    public string PartitionStateContainer { get; init; } = DefaultPartitionStateContainer;
}
