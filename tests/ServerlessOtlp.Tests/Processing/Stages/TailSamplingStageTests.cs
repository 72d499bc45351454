using OpenTelemetry.Proto.Collector.Trace.V1;
using ServerlessOtlp.Log;
using ServerlessOtlp.Pipeline;
using ServerlessOtlp.Pipeline.Sampling;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Processing.Stages;
using ServerlessOtlp.Tenants;
using static ServerlessOtlp.Tests.Pipeline.TailSamplingTestData;
using static ServerlessOtlp.Tests.Processing.Stages.StageTestKit;

namespace ServerlessOtlp.Tests.Processing.Stages;

public class TailSamplingStageTests
{
    private static readonly TenantConfig Sampled = TenantWith(Destination("out")) with
    {
        Sampling = new SamplingConfig { Tail = Tail(Policy(TailPolicyType.AlwaysSample)) with { DecisionWait = TimeSpan.FromSeconds(10) } },
    };

    private sealed class Fixture
    {
        public Fixture(EventFate answer = EventFate.Delivered, bool claimed = true)
        {
            Next = new RecordingStage(answer);
            Stage = new TailSamplingStage(Tenants, new PipelineMetrics(), DeadLettering(Dead), Next);
            if (claimed)
            {
                Stage.Reset(0, new DeferralLimits(1, 100_000, 1000));
            }
        }

        public InMemoryTenantDirectory Tenants { get; } = new(new TenantFile { Tenants = [Sampled] });

        public RecordingDeadLetters Dead { get; } = new();

        public RecordingStage Next { get; }

        public TailSamplingStage Stage { get; }

        public Task<EventFate> ReceiveAsync(long position, ExportTraceServiceRequest request)
        {
            Stage.Observe(0, T0);
            return Stage.ProcessAsync(Decoded(Sampled, position, request), default);
        }
    }

    private static List<string> Names(EventContext item) => Spans((ExportTraceServiceRequest)item.Message!).Select(s => s.Name).ToList();

    [Fact]
    public async Task Spans_of_a_trace_wait_and_a_kept_trace_resumes_the_chain_at_its_first_position()
    {
        var f = new Fixture();

        Assert.Equal(EventFate.Delivered, await f.ReceiveAsync(3, Request(Span(TraceId(1, 0), "traced"), Span([], "untraced"))));

        // Only the span outside any trace went on with its event.
        Assert.Equal(["untraced"], Names(Assert.Single(f.Next.Received)));
        Assert.True(f.Stage.HasPending(0));
        Assert.Equal(new LogPosition(3), f.Stage.PendingFloor(0));

        Assert.Equal(new FlushOutcome(0, false), await f.Stage.FlushDueAsync(0, T0.AddSeconds(10), endOfLog: true));

        var resumed = f.Next.Received[1];
        Assert.Equal(["traced"], Names(resumed));
        Assert.Equal((new LogPosition(3), "tail-sampling"), (resumed.Event.Position, resumed.Properties.GatewayId));
        Assert.Same(Sampled, resumed.Tenant);
        Assert.False(f.Stage.HasPending(0));
        Assert.Equal(1, f.Stage.KeptTotal);
    }

    [Fact]
    public async Task A_partition_the_drain_did_not_claim_passes_everything_on_at_once()
    {
        var f = new Fixture(claimed: false);

        await f.ReceiveAsync(3, Request(Span(TraceId(1, 0), "traced")));

        Assert.Equal(["traced"], Names(Assert.Single(f.Next.Received)));
        Assert.False(f.Stage.HasPending(0));
    }

    [Fact]
    public async Task A_trace_whose_tenant_is_gone_when_decided_is_dead_lettered()
    {
        var f = new Fixture();
        await f.ReceiveAsync(3, Request(Span(TraceId(1, 0), "traced")));
        f.Tenants.Replace(new TenantFile { Tenants = [] });

        Assert.Equal(new FlushOutcome(1, false), await f.Stage.FlushDueAsync(0, T0.AddSeconds(10), endOfLog: true));

        Assert.Empty(f.Next.Received);
        var letter = Assert.Single(f.Dead.Written);
        Assert.Equal((3L, "tenant \"acme\" is not configured"), (letter.Position, letter.Reason));
    }

    [Fact]
    public async Task A_destination_failing_on_a_kept_trace_makes_the_drain_retry_later()
    {
        var f = new Fixture(EventFate.RetryLater);
        await f.ReceiveAsync(3, Request(Span(TraceId(1, 0), "traced")));

        Assert.Equal(new FlushOutcome(0, true), await f.Stage.FlushDueAsync(0, T0.AddSeconds(10), endOfLog: true));
    }
}
