using Microsoft.Extensions.Logging.Abstractions;
using ServerlessOtlp.Export;
using ServerlessOtlp.Log;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Processing.Stages;
using ServerlessOtlp.Tenants;
using static ServerlessOtlp.Tests.Processing.Stages.StageTestKit;

namespace ServerlessOtlp.Tests.Processing.Stages;

public class SettleStageTests
{
    private static readonly DestinationConfig Out = Destination("out");

    // Two events batched into one request: [1, 2] from position 10, [3] from position 11.
    private static readonly byte[] Whole = [1, 2, 3];

    private static (ReadEvent, ReadOnlyMemory<byte>)[] Parts() =>
        [(Event(10, default), Whole.AsMemory(0, 2)), (Event(11, default), Whole.AsMemory(2, 1))];

    private static Task<EventFate> SettleAsync(SettleStage settle, ExportOutcome outcome) =>
        settle.SettleAsync(TenantWith(Out), Out, Signal.Traces, 0, Parts(), Whole, outcome, T0, default);

    [Fact]
    public async Task Success_is_delivered_and_refused_items_are_only_counted()
    {
        var dead = new RecordingDeadLetters();
        var retry = new RecordingRetryStore();
        var settle = new SettleStage(retry, DeadLettering(dead), NullLogger.Instance);

        Assert.Equal(EventFate.Delivered, await SettleAsync(settle, new ExportOutcome(ExportStatus.Success, "2 refused", RejectedItems: 2)));

        Assert.Equal(2, settle.RejectedItemsTotal);
        Assert.Empty(dead.Written);
        Assert.Empty(retry.Written);
    }

    [Fact]
    public async Task A_permanent_refusal_dead_letters_each_events_part_for_the_destination()
    {
        var dead = new RecordingDeadLetters();
        var retry = new RecordingRetryStore();
        var settle = new SettleStage(retry, DeadLettering(dead), NullLogger.Instance);

        Assert.Equal(EventFate.DeadLettered, await SettleAsync(settle, ExportOutcome.Permanent("400 bad")));

        var letters = dead.Written.OrderBy(l => l.Position).ToList();
        Assert.Equal([10L, 11L], letters.Select(l => l.Position));
        Assert.Equal([1, 2], letters[0].Body);
        Assert.Equal([3], letters[1].Body);
        Assert.All(letters, l => Assert.Equal(("out", "400 bad"), (l.Destination, l.Reason)));
        Assert.Empty(retry.Written);
        Assert.Equal(0, settle.ParkedTotal);
    }

    [Fact]
    public async Task A_transient_failure_parks_the_whole_request_and_counts_as_delivered()
    {
        var dead = new RecordingDeadLetters();
        var retry = new RecordingRetryStore();
        var settle = new SettleStage(retry, DeadLettering(dead), NullLogger.Instance);

        Assert.Equal(EventFate.Delivered, await SettleAsync(settle, ExportOutcome.Transient("503")));

        var parked = Assert.Single(retry.Written);
        Assert.Equal(("out", T0, "503"), (parked.Destination, parked.FirstFailure, parked.Error));
        Assert.Equal(Whole, parked.Body);
        Assert.Equal(1, settle.ParkedTotal);
        Assert.Empty(dead.Written);
    }

    [Fact]
    public async Task A_transient_failure_retries_later_without_a_retry_store_or_when_parking_fails()
    {
        var dead = new RecordingDeadLetters();
        var none = new SettleStage(null, DeadLettering(dead), NullLogger.Instance);
        var broken = new SettleStage(new RecordingRetryStore(broken: true), DeadLettering(dead), NullLogger.Instance);

        Assert.Equal(EventFate.RetryLater, await SettleAsync(none, ExportOutcome.Transient("503")));
        Assert.Equal(EventFate.RetryLater, await SettleAsync(broken, ExportOutcome.Transient("503")));

        Assert.Equal(0, broken.ParkedTotal);
        Assert.Empty(dead.Written);
    }
}
