namespace ServerlessOtlp.Functions;

/// <summary>Settings of the Functions app itself (<c>ServerlessOtlp:Functions</c>).</summary>
/// <remarks>
/// Work is started by pushes (the gateway enqueues a drain job when it appends to a partition nobody
/// drains), so the two timers are safety nets: every execution of a Flex Consumption app is billed
/// whether or not it finds work, and an idle month of these two schedules is 8,640 executions.
/// </remarks>
public sealed class FunctionsOptions
{
    public const string Section = "ServerlessOtlp:Functions";

    /// <summary>
    /// The Dispatch timer's NCRONTAB (6 fields, seconds first). Read by the host from the app
    /// setting <c>ServerlessOtlp__Functions__DispatchSchedule</c>; the setting must exist.
    /// </summary>
    public const string DispatchScheduleExpression = "%ServerlessOtlp:Functions:DispatchSchedule%";

    /// <summary>
    /// The documented default of <see cref="DispatchScheduleExpression"/>: every 10 minutes. It finds lag
    /// that no push announced (a lost queue message, a gateway that could not reach storage, a drain
    /// that died holding its lease).
    /// </summary>
    public const string DefaultDispatchSchedule = "0 */10 * * * *";

    /// <summary>
    /// The Maintenance timer's NCRONTAB, from the app setting <c>ServerlessOtlp__Functions__MaintenanceSchedule</c>
    /// (the setting must exist, as for Dispatch): the failure detector, the retry store and retention.
    /// </summary>
    public const string MaintenanceScheduleExpression = "%ServerlessOtlp:Functions:MaintenanceSchedule%";

    /// <summary>The documented default of <see cref="MaintenanceScheduleExpression"/>: every 10 minutes, 5 minutes after Dispatch.</summary>
    public const string DefaultMaintenanceSchedule = "0 5-59/10 * * * *";

    /// <summary>Fully checkpointed blob-log segments older than this are deleted.</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromHours(24);

    /// <summary>While an instance drains, it also runs the failure detector at most this often.</summary>
    public TimeSpan HealthSweepPeriod { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>While an instance drains, it also re-sends the retry store at most this often.</summary>
    public TimeSpan RetryStorePeriod { get; set; } = TimeSpan.FromSeconds(30);
}
