using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Google.Protobuf;
using OpenTelemetry.Proto.Collector.Logs.V1;
using OpenTelemetry.Proto.Common.V1;
using OpenTelemetry.Proto.Logs.V1;
using OpenTelemetry.Proto.Resource.V1;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Otlp.Wire;

namespace ServerlessOtlp.Tests.Security;

/// <summary>
/// For arbitrary requests — any mix of resource and scope sizes, item sizes and counts, trace ids,
/// partition counts and event budgets — the split never writes more than its bound, keeps every
/// record within the event budget, and accounts for every item (accepted + rejected = sent).
/// </summary>
public sealed class SplitBoundPropertyTests
{
    [Property(MaxTest = 300)]
    public Property The_split_stays_within_its_bound_and_every_item_is_accounted_for(int seed, PositiveInt resources, PositiveInt partitions, PositiveInt budgetKb)
    {
        var rnd = new Random(seed);
        int partitionCount = 1 + (partitions.Get % 64);
        int budget = 256 + (budgetKb.Get % 64 * 1024); // 256 bytes to 64 KB: small budgets make prefixes and items collide with it
        var request = new ExportLogsServiceRequest();
        int sent = 0;
        for (int r = 0; r < 1 + (resources.Get % 4); r++)
        {
            var resource = new Resource();
            resource.Attributes.Add(new KeyValue { Key = "blob", Value = new AnyValue { StringValue = new string('r', rnd.Next(0, budget * 2)) } });
            var rl = new ResourceLogs { Resource = resource };
            for (int sc = 0; sc < 1 + rnd.Next(3); sc++)
            {
                var scope = new ScopeLogs { Scope = new InstrumentationScope { Name = new string('s', rnd.Next(0, budget)) } };
                for (int i = rnd.Next(0, 200); i > 0; i--)
                {
                    var record = new LogRecord { Body = new AnyValue { StringValue = new string('b', rnd.Next(0, rnd.Next(2) == 0 ? 40 : budget)) } };
                    if (rnd.Next(2) == 0)
                    {
                        var id = new byte[16];
                        rnd.NextBytes(id);
                        record.TraceId = ByteString.CopyFrom(id);
                    }

                    scope.LogRecords.Add(record);
                    sent++;
                }

                rl.ScopeLogs.Add(scope);
            }

            request.ResourceLogs.Add(rl);
        }

        var bytes = request.ToByteArray();
        try
        {
            using var split = OtlpSplitter.Split(Signal.Logs, bytes, partitionCount, budget);
            bool withinBound = split.Buffer.Length <= OtlpSplitter.OutputBound(bytes.Length) && split.Buffer.Capacity <= OtlpSplitter.OutputBound(bytes.Length);
            bool recordsFit = split.Records.ToArray().All(rec => rec.Length <= budget);
            bool accounted = split.AcceptedItems + split.RejectedItems == sent && split.Records.ToArray().Sum(rec => rec.Items) == split.AcceptedItems;
            return (withinBound && recordsFit && accounted).Label(
                $"{bytes.Length} bytes, {sent} records, budget {budget}, {partitionCount} partitions: output {split.Buffer.Length} (bound {OtlpSplitter.OutputBound(bytes.Length)}), accepted {split.AcceptedItems}, rejected {split.RejectedItems}");
        }
        catch (SplitTooLargeException)
        {
            return true.Label("refused as too large once split");
        }
    }
}
