using Microsoft.Extensions.Logging.Abstractions;
using ServerlessOtlp.Functions;
using ServerlessOtlp.Processing;
using ServerlessOtlp.Tests.Infrastructure;
using Xunit.Abstractions;

namespace ServerlessOtlp.Tests.Functions;

/// <summary>
/// Storage transactions counted in the Azure SDK pipeline (every attempt is billed) while the Functions'
/// code runs on Azurite, over a memory log standing in for Event Hubs (whose partition reads are AMQP, not
/// storage). docs/cost.md turns these counts into money; the bounds below fail when a change adds storage
/// calls per partition to the idle timers or per event to a drain.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class BillableOperationsTests(AzuriteFixture azurite, ITestOutputHelper output)
{
    [Fact]
    public async Task An_idle_Dispatch_and_Maintenance_cost_a_few_storage_transactions_whatever_the_partition_count()
    {
        var measured = new List<(int Partitions, long Dispatch, long Maintenance)>();
        foreach (int partitions in new[] { 2, 32 })
        {
            using var host = await FunctionTestHost.CreateAsync(azurite.ConnectionString, partitions);
            var runtime = await host.Host.GetAsync();
            var transactions = runtime.Services.Storage.Transactions;

            long before = transactions.Total;
            Assert.Empty(await new DispatchFunction(host.Host, NullLogger<DispatchFunction>.Instance).DispatchAsync());
            long dispatch = transactions.Total - before;

            before = transactions.Total;
            await new MaintenanceFunction(host.Host, NullLogger<MaintenanceFunction>.Instance).MaintainAsync();
            long maintenance = transactions.Total - before;

            output.WriteLine($"{partitions} partitions: Dispatch {dispatch} storage transactions, Maintenance {maintenance}");
            measured.Add((partitions, dispatch, maintenance));
        }

        Assert.Equal(measured[0].Dispatch, measured[1].Dispatch);
        Assert.Equal(measured[0].Maintenance, measured[1].Maintenance);
        Assert.InRange(measured[0].Dispatch, 1, 4);
        Assert.InRange(measured[0].Maintenance, 1, 6);
    }

    [Fact]
    public async Task A_drain_job_costs_a_fixed_handful_of_transactions_plus_at_most_one_checkpoint_per_read_batch()
    {
        const int Events = 40; // 4 read batches of 10 (the test host's BatchMaxEvents)
        using var host = await FunctionTestHost.CreateAsync(azurite.ConnectionString);
        var runtime = await host.Host.GetAsync();
        var drain = new DrainFunction(host.Host, NullLogger<DrainFunction>.Instance);
        var transactions = runtime.Services.Storage.Transactions;
        await drain.DrainAsync(new DrainJob(1).ToJson()); // the instance's first drain also runs the ride-along maintenance

        long before = transactions.Total;
        var empty = await drain.DrainAsync(new DrainJob(0).ToJson());
        long fixedCost = transactions.Total - before;

        await host.AppendSpansAsync(0, 0, Events);
        before = transactions.Total;
        var result = await drain.DrainAsync(new DrainJob(0).ToJson());
        long withData = transactions.Total - before;

        Assert.Equal((DrainEnd.Idle, DrainEnd.Idle, Events), (empty!.End, result!.End, (int)result.Events));
        long batches = Events / host.Drain.BatchMaxEvents;
        output.WriteLine($"drain job: {fixedCost} transactions with nothing to read; {withData} for {Events} events in {batches} read batches ({(withData - fixedCost) / (double)batches:F1} per batch)");
        Assert.InRange(fixedCost, 1, 8);
        Assert.InRange(withData - fixedCost, 1, batches); // at most one checkpoint per read batch, nothing per event
    }

    [Fact]
    public async Task Every_function_execution_is_counted_with_its_outcome_and_timed()
    {
        using var executions = new FunctionExecutions();
        var counted = new System.Collections.Concurrent.ConcurrentBag<(string Instrument, string? Function, string? Outcome)>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == FunctionExecutions.MeterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        void Add(System.Diagnostics.Metrics.Instrument instrument, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            string? function = null, outcome = null;
            foreach (var tag in tags)
            {
                function = tag.Key == "function" ? tag.Value as string : function;
                outcome = tag.Key == "outcome" ? tag.Value as string : outcome;
            }

            counted.Add((instrument.Name, function, outcome));
        }

        listener.SetMeasurementEventCallback<long>((instrument, _, tags, _) => Add(instrument, tags));
        listener.SetMeasurementEventCallback<double>((instrument, _, tags, _) => Add(instrument, tags));
        listener.Start();
        string function = "Drain-" + Guid.NewGuid().ToString("N")[..6]; // other tests' executions share the meter's name

        await executions.MeasureAsync(function, () => Task.CompletedTask);
        await Assert.ThrowsAsync<InvalidOperationException>(() => executions.MeasureAsync(function, () => throw new InvalidOperationException("boom")));

        Assert.Equal(2, executions.Total);
        var mine = counted.Where(c => c.Function == function).ToList();
        Assert.Equal(["failed", "ok"], mine.Where(c => c.Instrument == "otlp_function_executions").Select(c => c.Outcome!).Order(StringComparer.Ordinal));
        Assert.Equal(2, mine.Count(c => c.Instrument == "otlp_function_duration"));
    }
}
