namespace ServerlessOtlp.Storage;

/// <summary>
/// Names of the tables, queue and blob containers the pipeline uses (DESIGN.md, "External
/// contracts"). Bind from configuration to override; the defaults are the documented ones.
/// </summary>
public sealed record StorageNames
{
    // Settable (not init-only): bound from configuration by the source generator (see TenantFile.cs on #84484).
    public const string DefaultCheckpoints = "checkpoints";
    public const string DefaultLeases = "leases";
    public const string DefaultNodes = "nodes";
    public const string DefaultTenants = "tenants";
    public const string DefaultAgents = "agents";
    public const string DefaultDrainJobs = "drain-jobs";
    public const string DefaultLogContainer = "otlp-log";
    public const string DefaultRetryContainer = "retry";
    public const string DefaultDeadLetterContainer = "deadletter";
    public const string DefaultPartitionStateContainer = "drain-state";

    // Tables
    public string Checkpoints { get; set; } = DefaultCheckpoints;

    public string Leases { get; set; } = DefaultLeases;

    public string Nodes { get; set; } = DefaultNodes;

    public string Tenants { get; set; } = DefaultTenants;

    /// <summary>OpAMP agents (gateway), keyed by tenant and instance UID.</summary>
    public string Agents { get; set; } = DefaultAgents;

    // Queues
    public string DrainJobs { get; set; } = DefaultDrainJobs;

    // Blob containers
    public string LogContainer { get; set; } = DefaultLogContainer;

    public string RetryContainer { get; set; } = DefaultRetryContainer;

    public string DeadLetterContainer { get; set; } = DefaultDeadLetterContainer;

    /// <summary>Tenant configs too large for a table row.</summary>
    public string TenantContainer { get; set; } = DefaultTenants;

    /// <summary>Partition state snapshots referenced from checkpoints (delta → cumulative totals).</summary>
    public string PartitionStateContainer { get; set; } = DefaultPartitionStateContainer;
}
