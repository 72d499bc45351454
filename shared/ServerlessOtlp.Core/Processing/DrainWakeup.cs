using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using ServerlessOtlp.Log;
using ServerlessOtlp.Storage;

namespace ServerlessOtlp.Processing;

/// <summary>
/// Push-started drains. The gateway calls <see cref="Appended"/> once an append is durable; a partition
/// with no live drain gets a drain job at once (deduplicated by the pending markers) instead of waiting
/// for the Dispatch timer, which is only a safety net. What a check learns is trusted for
/// <see cref="Horizon"/> from the moment the check started, so a steady stream costs one lease read per
/// partition and horizon, not one per request.
/// <para>
/// The other half of the hand-shake is the drain's (<see cref="LagAfterReleaseAsync"/>): a drain that
/// ends idle re-reads the log end <see cref="Horizon"/> after releasing its lease. A check that saw the
/// lease held read it before the release, so its answer expires before that re-read: every append this
/// cache attributed to a live drain is either read by that drain or found by its re-read.
/// </para>
/// </summary>
public sealed class DrainWakeup : IDisposable
{
    /// <summary>How long a check's answer is trusted, and how long after its release a drain re-reads the log end.</summary>
    public static readonly TimeSpan Horizon = TimeSpan.FromSeconds(2);

    /// <summary>After a failed check, appends to the partition do not retry it for this long (the timer is the safety net).</summary>
    internal static readonly TimeSpan FailurePause = TimeSpan.FromSeconds(1);

    /// <summary>Longest a check may take; a hung storage call must not silence a partition's wake-ups.</summary>
    internal static readonly TimeSpan CheckTimeout = TimeSpan.FromSeconds(10);

    private readonly LeaseStore _leases;
    private readonly IDrainJobQueue _jobs;
    private readonly string _logName;
    private readonly string _consumerGroup;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly long _horizonTicks;
    private readonly long[] _coveredUntil;
    private readonly long[] _checkStarted;
    private readonly int[] _checking;
    private readonly int[] _again;
    private readonly Task[] _inFlight;
    private readonly CancellationTokenSource _stopping = new();
    private long _checks;
    private long _enqueued;
    private int _failuresInARow;

    public DrainWakeup(LeaseStore leases, IDrainJobQueue jobs, string logName, string consumerGroup, int partitionCount, TimeProvider? time = null, ILogger<DrainWakeup>? logger = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(partitionCount, 1);
        _leases = leases;
        _jobs = jobs;
        _logName = logName;
        _consumerGroup = consumerGroup;
        _time = time ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _horizonTicks = (long)(Horizon.TotalSeconds * _time.TimestampFrequency);
        _coveredUntil = new long[partitionCount];
        _checkStarted = new long[partitionCount];
        _checking = new int[partitionCount];
        _again = new int[partitionCount];
        _inFlight = Enumerable.Repeat(Task.CompletedTask, partitionCount).ToArray();
    }

    /// <summary>Lease reads made (storage calls besides the enqueues).</summary>
    public long Checks => Interlocked.Read(ref _checks);

    /// <summary>Drain jobs this gateway enqueued.</summary>
    public long Enqueued => Interlocked.Read(ref _enqueued);

    /// <summary>
    /// An append to <paramref name="partition"/> is durable. Returns at once; when no recent check
    /// covers it, a check runs in the background.
    /// </summary>
    public void Appended(int partition)
    {
        long now = _time.GetTimestamp();
        if (now < Volatile.Read(ref _coveredUntil[partition]))
        {
            return;
        }

        if (Interlocked.CompareExchange(ref _checking[partition], 1, 0) != 0)
        {
            // The check in flight covers this append only if it started less than a horizon ago.
            if (now - Volatile.Read(ref _checkStarted[partition]) >= _horizonTicks)
            {
                Volatile.Write(ref _again[partition], 1);
            }

            return;
        }

        Volatile.Write(ref _checkStarted[partition], now);
        Volatile.Write(ref _inFlight[partition], CheckAsync(partition, now));
    }

    /// <summary>The partition's latest check (for tests: the event to wait for).</summary>
    internal Task LatestCheck(int partition) => Volatile.Read(ref _inFlight[partition]);

    /// <summary>
    /// The drain's half: waits <paramref name="wait"/> (in production <see cref="Horizon"/>) after the
    /// lease was released, then reports whether the log grew past <paramref name="result"/>'s checkpoint.
    /// </summary>
    public static async Task<bool> LagAfterReleaseAsync(IPartitionedLog log, DrainResult result, Func<CancellationToken, Task> wait, CancellationToken cancellationToken = default)
    {
        await wait(cancellationToken);
        var end = await log.GetEndAsync(result.Partition, cancellationToken);
        return log.Lag(result.Checkpoint, end) > 0;
    }

    public void Dispose()
    {
        _stopping.Cancel();
        _stopping.Dispose();
    }

    private async Task CheckAsync(int partition, long started)
    {
        await Task.Yield(); // never on the appender's thread
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            timeout.CancelAfter(CheckTimeout);
            Interlocked.Increment(ref _checks);
            var lease = await _leases.ReadAsync(_logName, _consumerGroup, partition, timeout.Token);
            if (lease.IsClaimable && await _jobs.TryEnqueueAsync(new DrainJob(partition, "append"), TimeSpan.Zero, timeout.Token))
            {
                Interlocked.Increment(ref _enqueued);
            }

            // Held, pending already, or enqueued now: a drain will start (or end) after this check began.
            Volatile.Write(ref _coveredUntil[partition], started + _horizonTicks);
            if (Interlocked.Exchange(ref _failuresInARow, 0) > 0)
            {
                _logger.LogWarning("Drain wake-ups work again");
            }
        }
        catch (Exception ex) when (!_stopping.IsCancellationRequested)
        {
            Volatile.Write(ref _coveredUntil[partition], _time.GetTimestamp() + (long)(FailurePause.TotalSeconds * _time.TimestampFrequency));
            int failures = Interlocked.Increment(ref _failuresInARow);
            if (ExceptionText.IsWorthALine(failures))
            {
                _logger.LogWarning("Drain wake-up failed ({Failures} in a row): {Reason}; the Dispatch timer picks the partition up", failures, ExceptionText.Summary(ex));
            }

            _logger.LogDebug(ex, "Drain wake-up of partition {Partition} failed", partition);
        }
        catch (Exception)
        {
            return; // stopping
        }
        finally
        {
            Volatile.Write(ref _checking[partition], 0);
        }

        if (Interlocked.Exchange(ref _again[partition], 0) == 1)
        {
            Appended(partition);
        }
    }
}
