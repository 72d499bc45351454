namespace ServerlessOtlp.Functions;

/// <summary>Settings of the Functions app itself (<c>ServerlessOtlp:Functions</c>).</summary>
public sealed class FunctionsOptions
{
    public const string Section = "ServerlessOtlp:Functions";

    /// <summary>
    /// The Dispatch timer's NCRONTAB (6 fields, seconds first). Read by the host from the app
    /// setting <c>ServerlessOtlp__Functions__DispatchSchedule</c>; the setting must exist.
    /// </summary>
    public const string DispatchScheduleExpression = "%ServerlessOtlp:Functions:DispatchSchedule%";

    /// <summary>The documented default of <see cref="DispatchScheduleExpression"/>: every 5 seconds.</summary>
    public const string DefaultDispatchSchedule = "*/5 * * * * *";

    /// <summary>
    /// The RetryStore timer's NCRONTAB, from the app setting <c>ServerlessOtlp__Functions__RetryStoreSchedule</c>
    /// (the setting must exist, as for Dispatch).
    /// </summary>
    public const string RetryStoreScheduleExpression = "%ServerlessOtlp:Functions:RetryStoreSchedule%";

    /// <summary>The documented default of <see cref="RetryStoreScheduleExpression"/>: every 10 seconds (the local runner's is 5).</summary>
    public const string DefaultRetryStoreSchedule = "*/10 * * * * *";

    /// <summary>The failure detector runs every 10 seconds, well inside HealthOptions.SuspectAfter.</summary>
    public const string HealthSweepSchedule = "*/10 * * * * *";

    /// <summary>Retention runs hourly: segments are large and retention is counted in hours.</summary>
    public const string RetentionSchedule = "0 0 * * * *";

    /// <summary>Fully checkpointed blob-log segments older than this are deleted.</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromHours(24);
}
