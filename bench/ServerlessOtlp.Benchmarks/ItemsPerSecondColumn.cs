using System.Globalization;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace ServerlessOtlp.Benchmarks;

/// <summary>
/// Items handled per second by one thread: items per operation ÷ mean time. The count comes from
/// the benchmark (null when it does not apply to a case), so each benchmark names its own unit.
/// </summary>
public sealed class ItemsPerSecondColumn(string columnName, string legend, Func<BenchmarkCase, double?> itemsPerOperation) : IColumn
{
    public string Id => nameof(ItemsPerSecondColumn) + "." + columnName;

    public string ColumnName => columnName;

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 0;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => legend;

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public bool IsAvailable(Summary summary) => true;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var stats = summary[benchmarkCase]?.ResultStatistics;
        if (stats is null || itemsPerOperation(benchmarkCase) is not { } items)
        {
            return "-";
        }

        return (items / (stats.Mean / 1e9)).ToString("N0", CultureInfo.InvariantCulture);
    }
}
