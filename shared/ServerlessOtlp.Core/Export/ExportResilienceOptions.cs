namespace ServerlessOtlp.Export;

/// <summary>
/// Defaults of the per-destination resilience pipelines (<c>ServerlessOtlp:Export</c>); a
/// destination's own <c>timeout</c> and <c>retry</c> override the first four.
/// </summary>
public sealed class ExportResilienceOptions
{
    public const string Section = "ServerlessOtlp:Export";

    /// <summary>
    /// Upper bound of the inline retry budget: the drain's export cap (<c>DrainOptions.ExportTimeout</c>,
    /// 12 s) minus room for the retry-store write. A destination's <c>retry.maxElapsed</c> is clamped to it.
    /// </summary>
    public static readonly TimeSpan MaxInlineBudget = TimeSpan.FromSeconds(8);

    /// <summary>One attempt (the OTLP exporters' usual 10 s is too long inside a drain).</summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>First backoff (the Collector's <c>retry_on_failure.initial_interval</c> is 5 s; inline we start shorter).</summary>
    public TimeSpan InitialInterval { get; set; } = TimeSpan.FromMilliseconds(200);

    public TimeSpan MaxInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Inline retry budget; after it the batch goes to the retry store.</summary>
    public TimeSpan InlineBudget { get; set; } = TimeSpan.FromSeconds(4);

    /// <summary>The breaker opens when this share of attempts fail within <see cref="BreakerSamplingDuration"/>…</summary>
    public double BreakerFailureRatio { get; set; } = 0.5;

    /// <summary>…and at least this many attempts were made.</summary>
    public int BreakerMinimumThroughput { get; set; } = 5;

    public TimeSpan BreakerSamplingDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long an open breaker refuses calls before one trial call.</summary>
    public TimeSpan BreakerBreakDuration { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Exports in flight to one destination of one tenant.</summary>
    public int MaxConcurrency { get; set; } = 16;

    /// <summary>Fault injection (Simmy), innermost: for tests and game days only.</summary>
    public ExportChaosOptions Chaos { get; set; } = new();
}

/// <summary>Chaos strategies placed innermost in every pipeline, so the real retry and breaker handle them.</summary>
public sealed class ExportChaosOptions
{
    public bool Enabled { get; set; }

    /// <summary>Share of attempts (0–1) answered with <see cref="Outcome"/> instead of being sent.</summary>
    public double OutcomeRate { get; set; }

    public ExportOutcome Outcome { get; set; } = ExportOutcome.Transient("chaos: injected transient failure");

    /// <summary>Share of attempts (0–1) that throw <see cref="Fault"/> instead of being sent.</summary>
    public double FaultRate { get; set; }

    public Func<Exception> Fault { get; set; } = static () => new HttpRequestException("chaos: injected fault");

    /// <summary>
    /// Which (tenant, destination) pipelines the chaos hits, asked before every attempt; null: all.
    /// Lets a test take one tenant's destination down for a while and bring it back.
    /// </summary>
    public Func<string, string, bool>? Target { get; set; }
}
