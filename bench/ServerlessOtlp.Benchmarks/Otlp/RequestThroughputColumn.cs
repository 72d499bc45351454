using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace ServerlessOtlp.Benchmarks.Otlp;

/// <summary>Request bytes processed per second (request size / mean time), in MB/s (10^6 bytes).</summary>
public sealed class RequestThroughputColumn : IColumn
{
    public string Id => nameof(RequestThroughputColumn);

    public string ColumnName => "Request MB/s";

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 0;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => "Request size / mean time, in MB/s (10^6 bytes per second)";

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public bool IsAvailable(Summary summary) => true;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var stats = summary[benchmarkCase]?.ResultStatistics;
        var spans = benchmarkCase.Parameters["Spans"];
        if (stats is null || spans is not int spanCount)
        {
            return "-";
        }

        double bytes = SdkShapedTraces.Bytes(spanCount).Length;
        double seconds = stats.Mean / 1e9;
        return (bytes / seconds / 1e6).ToString("N0", System.Globalization.CultureInfo.InvariantCulture) + $" ({bytes:N0} B)";
    }
}
