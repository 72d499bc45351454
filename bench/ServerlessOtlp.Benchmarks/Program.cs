using BenchmarkDotNet.Running;

namespace ServerlessOtlp.Benchmarks;

/// <summary>Pass BenchmarkDotNet arguments through, e.g. <c>-- --filter '*Split*' --job short</c>.</summary>
public static class Program
{
    // A named class: the referenced gateway also has a top-level Program.
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
