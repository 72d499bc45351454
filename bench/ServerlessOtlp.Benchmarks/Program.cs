using BenchmarkDotNet.Running;

// Pass BenchmarkDotNet arguments through, e.g. `-- --filter '*Split*' --job short`.
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
