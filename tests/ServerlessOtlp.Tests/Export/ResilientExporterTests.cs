using Google.Protobuf;
using Microsoft.Extensions.Time.Testing;
using OpenTelemetry.Proto.Collector.Trace.V1;
using Polly.CircuitBreaker;
using ServerlessOtlp.Export;
using ServerlessOtlp.Export.Loki;
using ServerlessOtlp.Export.Otlp;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Tests.Export;

/// <summary>The per-destination pipeline, on a fake clock: retry rules, Retry-After, budget, breaker, chaos.</summary>
public sealed class ResilientExporterTests
{
    private static readonly TenantConfig Tenant = new() { Id = "acme" };
    private static readonly DestinationConfig Destination = new() { Name = "tempo", Kind = OtlpHttpDestination.KindName, Signals = [Signal.Traces], Endpoint = "http://tempo:4318" };

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero));

    private static ExportRequest Request(DestinationConfig? destination = null) =>
        new(Tenant, destination ?? Destination, Signal.Traces, new ExportTraceServiceRequest(), new ExportTraceServiceRequest().ToByteArray());

    private static ExportResilienceOptions Options(Action<ExportResilienceOptions>? configure = null)
    {
        var options = new ExportResilienceOptions
        {
            InitialInterval = TimeSpan.FromMilliseconds(100),
            MaxInterval = TimeSpan.FromMilliseconds(400),
            InlineBudget = TimeSpan.FromSeconds(3),
            AttemptTimeout = TimeSpan.FromSeconds(1),
            BreakerMinimumThroughput = 100, // out of the way unless a test wants it
        };
        configure?.Invoke(options);
        return options;
    }

    /// <summary>Runs <paramref name="work"/> while moving the fake clock forward in small steps.</summary>
    private async Task<T> OnFakeClock<T>(Func<Task<T>> work)
    {
        var task = work();
        for (int i = 0; !task.IsCompleted && i < 100_000; i++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(10));
            await Task.Delay(1);
        }

        return await task;
    }

    [Fact]
    public async Task Transient_failures_are_retried_within_the_budget_then_reported_transient()
    {
        var backend = new ScriptedExporter(_ => ExportOutcome.Transient("HTTP 503"));
        var exporter = new ResilientExporter([backend], Options(), _time);
        var started = _time.GetUtcNow();
        var outcome = await OnFakeClock(() => exporter.ExportAsync(Request()));

        Assert.Equal(ExportStatus.Transient, outcome.Status);
        Assert.True(backend.Calls.Count > 3, $"only {backend.Calls.Count} attempts");
        var elapsed = _time.GetUtcNow() - started;
        Assert.InRange(elapsed, TimeSpan.FromSeconds(2.9), TimeSpan.FromSeconds(3.2)); // the inline budget, not more
    }

    [Fact]
    public async Task Every_attempt_and_the_final_outcome_are_recorded_per_destination_and_the_export_in_the_performance_model()
    {
        // A tenant id of this test's own: ExportMetrics is one per process, other tests export beside it.
        var tenant = new TenantConfig { Id = "metrics-" + Guid.NewGuid().ToString("N")[..8] };
        var attempts = new List<(string Outcome, string Destination)>();
        var finals = new List<string>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name is "otlp_export_attempt_duration" or "otlp_export_duration")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((instrument, _, tags, _) =>
        {
            var t = new Dictionary<string, object?>();
            foreach (var tag in tags)
            {
                t[tag.Key] = tag.Value;
            }

            if ((string?)t["tenant"] != tenant.Id)
            {
                return;
            }

            lock (attempts)
            {
                if (instrument.Name == "otlp_export_attempt_duration")
                {
                    attempts.Add(((string)t["outcome"]!, (string)t["destination"]!));
                }
                else
                {
                    finals.Add((string)t["outcome"]!);
                }
            }
        });
        listener.Start();

        var backend = new ScriptedExporter(n => n < 2 ? ExportOutcome.Transient("HTTP 503") : ExportOutcome.Ok);
        var performance = new ServerlessOtlp.Performance.ComponentRecorder(_time);
        var exporter = new ResilientExporter([backend], Options(), _time) { Performance = performance };
        var request = new ExportRequest(tenant, Destination, Signal.Traces, new ExportTraceServiceRequest(), new ExportTraceServiceRequest().ToByteArray());
        var outcome = await OnFakeClock(() => exporter.ExportAsync(request));

        Assert.Equal(ExportStatus.Success, outcome.Status);
        Assert.Equal([("transient", "tempo"), ("transient", "tempo"), ("success", "tempo")], attempts);
        Assert.Equal(["success"], finals);
        var snapshot = performance.Snapshot()!;
        Assert.Equal((1L, 0L), (snapshot.Operations, snapshot.Errors)); // one export, retries inside it
    }

    [Fact]
    public async Task Permanent_failures_are_not_retried()
    {
        var backend = new ScriptedExporter(_ => ExportOutcome.Permanent("HTTP 400"));
        var exporter = new ResilientExporter([backend], Options(), _time);
        var outcome = await OnFakeClock(() => exporter.ExportAsync(Request()));
        Assert.Equal(ExportStatus.Permanent, outcome.Status);
        Assert.Single(backend.Calls);
    }

    [Fact]
    public async Task Partial_success_is_success_and_not_retried()
    {
        var backend = new ScriptedExporter(_ => new ExportOutcome(ExportStatus.Success, "partial", RejectedItems: 3));
        var exporter = new ResilientExporter([backend], Options(), _time);
        var outcome = await OnFakeClock(() => exporter.ExportAsync(Request()));
        Assert.Equal(3, outcome.RejectedItems);
        Assert.Single(backend.Calls);
    }

    [Fact]
    public async Task Retry_after_is_the_delay_when_the_backend_gives_one()
    {
        var backend = new ScriptedExporter(n => n == 0 ? ExportOutcome.Transient("HTTP 429", TimeSpan.FromMilliseconds(1500)) : ExportOutcome.Ok);
        backend.Time = _time;
        var exporter = new ResilientExporter([backend], Options(), _time);
        var outcome = await OnFakeClock(() => exporter.ExportAsync(Request()));

        Assert.Equal(ExportStatus.Success, outcome.Status);
        Assert.Equal(2, backend.Calls.Count);
        var gap = backend.Calls[1] - backend.Calls[0];
        Assert.InRange(gap, TimeSpan.FromMilliseconds(1500), TimeSpan.FromMilliseconds(1520)); // exactly the wait asked for, no jitter
    }

    [Fact]
    public async Task A_retry_after_beyond_the_budget_goes_to_the_retry_store_at_once()
    {
        var backend = new ScriptedExporter(_ => ExportOutcome.Transient("HTTP 503", TimeSpan.FromMinutes(1)));
        var exporter = new ResilientExporter([backend], Options(), _time);
        var outcome = await OnFakeClock(() => exporter.ExportAsync(Request()));
        Assert.Equal(ExportStatus.Transient, outcome.Status);
        Assert.Equal(TimeSpan.FromMinutes(1), outcome.RetryAfter);
        Assert.Single(backend.Calls);
    }

    [Fact]
    public async Task A_destination_retry_block_overrides_the_defaults_and_is_clamped_below_the_drain_cap()
    {
        var backend = new ScriptedExporter(_ => ExportOutcome.Transient("down"));
        var exporter = new ResilientExporter([backend], Options(), _time);
        var destination = Destination with { Retry = new RetryConfig { MaxElapsed = TimeSpan.FromMinutes(5) } };
        Assert.Equal(ExportResilienceOptions.MaxInlineBudget, exporter.InlineBudget(destination));
        Assert.Equal(TimeSpan.FromSeconds(1), exporter.InlineBudget(Destination with { Retry = new RetryConfig { MaxElapsed = TimeSpan.FromSeconds(1) } }));

        var started = _time.GetUtcNow();
        await OnFakeClock(() => exporter.ExportAsync(Request(destination with { Retry = new RetryConfig { MaxElapsed = TimeSpan.FromSeconds(1) } })));
        Assert.InRange(_time.GetUtcNow() - started, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(1.2));
    }

    [Fact]
    public async Task A_hanging_backend_is_cut_by_the_attempt_timeout()
    {
        var backend = new ScriptedExporter(_ => ExportOutcome.Ok) { Hang = true };
        var exporter = new ResilientExporter([backend], Options(o => o.InlineBudget = TimeSpan.FromSeconds(2.5)), _time);
        var outcome = await OnFakeClock(() => exporter.ExportAsync(Request()));
        Assert.Equal(ExportStatus.Transient, outcome.Status);
        Assert.InRange(backend.Calls.Count, 2, 3); // 1 s attempts inside a 2.5 s budget
    }

    [Fact]
    public async Task The_breaker_opens_and_then_refuses_without_calling_the_backend()
    {
        var backend = new ScriptedExporter(_ => ExportOutcome.Transient("HTTP 503"));
        var exporter = new ResilientExporter([backend], Options(o => o.BreakerMinimumThroughput = 5), _time);
        await OnFakeClock(() => exporter.ExportAsync(Request()));
        Assert.Equal(CircuitState.Open, exporter.BreakerState("acme", "tempo"));

        int calls = backend.Calls.Count;
        var outcome = await exporter.ExportAsync(Request()); // no clock needed: refused at once
        Assert.Equal(ExportStatus.Transient, outcome.Status);
        Assert.StartsWith("circuit open", outcome.Message, StringComparison.Ordinal);
        Assert.Equal(calls, backend.Calls.Count);

        // Another tenant's destination of the same name has its own breaker.
        Assert.Equal(CircuitState.Closed, exporter.BreakerState("globex", "tempo"));
    }

    [Fact]
    public async Task Chaos_outcomes_go_through_the_real_retry()
    {
        var backend = new ScriptedExporter(_ => ExportOutcome.Ok);
        var options = Options(o => o.Chaos = new ExportChaosOptions { Enabled = true, OutcomeRate = 1 });
        var exporter = new ResilientExporter([backend], options, _time);
        var outcome = await OnFakeClock(() => exporter.ExportAsync(Request()));
        Assert.Equal(ExportStatus.Transient, outcome.Status);
        Assert.Empty(backend.Calls); // the chaos strategy answered every attempt
    }

    [Fact]
    public async Task Chaos_faults_are_transient()
    {
        var backend = new ScriptedExporter(_ => ExportOutcome.Ok);
        var options = Options(o => o.Chaos = new ExportChaosOptions { Enabled = true, FaultRate = 1 });
        var exporter = new ResilientExporter([backend], options, _time);
        var outcome = await OnFakeClock(() => exporter.ExportAsync(Request()));
        Assert.Equal(ExportStatus.Transient, outcome.Status);
        Assert.Contains("chaos", outcome.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Half_the_attempts_failing_still_deliver()
    {
        var backend = new ScriptedExporter(_ => ExportOutcome.Ok);
        var options = Options(o =>
        {
            o.InlineBudget = ExportResilienceOptions.MaxInlineBudget; // many tries: the fake clock may run ahead of a busy test host
            o.Chaos = new ExportChaosOptions { Enabled = true, OutcomeRate = 0.5 };
        });
        var exporter = new ResilientExporter([backend], options, _time);
        int delivered = 0;
        for (int i = 0; i < 20; i++)
        {
            if ((await OnFakeClock(() => exporter.ExportAsync(Request()))).Status == ExportStatus.Success)
            {
                delivered++;
            }
        }

        Assert.Equal(20, delivered);
    }

    [Fact]
    public async Task An_unknown_kind_is_permanent()
    {
        var exporter = new ResilientExporter([], Options(), _time);
        Assert.False(exporter.Supports(LokiDestination.KindName));
        Assert.Equal(ExportStatus.Permanent, (await exporter.ExportAsync(Request())).Status);
    }

    /// <summary>An exporter whose n-th answer is scripted; records when it was called.</summary>
    private sealed class ScriptedExporter(Func<int, ExportOutcome> script) : IDestinationExporter
    {
        public List<DateTimeOffset> Calls { get; } = [];

        public TimeProvider Time { get; set; } = TimeProvider.System;

        public bool Hang { get; init; }

        public string Kind => OtlpHttpDestination.KindName;

        public async Task<ExportOutcome> ExportAsync(ExportRequest request, CancellationToken cancellationToken = default)
        {
            int n;
            lock (Calls)
            {
                n = Calls.Count;
                Calls.Add(Time.GetUtcNow());
            }

            if (Hang)
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }

            return script(n);
        }
    }
}
