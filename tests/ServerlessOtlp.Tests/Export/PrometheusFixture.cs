using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace ServerlessOtlp.Tests.Export;

/// <summary>
/// A real Prometheus (the <c>prometheus</c> binary on PATH, Debian's 2.42 via
/// <c>tools/install-prometheus.sh</c>) with the remote-write receiver and native histograms on
/// a free loopback port, its data in a temporary directory. Fails, never skips, when missing.
/// </summary>
public sealed class PrometheusFixture : IAsyncLifetime
{
    private Process? _process;
    private string _dir = "";
    private readonly List<string> _log = [];

    public Uri BaseUri { get; private set; } = null!;

    public Uri WriteUri => new(BaseUri, "/api/v1/write");

    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(30) };

    public string Log
    {
        get
        {
            lock (_log)
            {
                return string.Join('\n', _log.TakeLast(40));
            }
        }
    }

    public async Task InitializeAsync()
    {
        string binary = FindOnPath("prometheus")
            ?? throw new InvalidOperationException("prometheus is not on PATH: run tools/install-prometheus.sh (Debian: apt-get install prometheus) before these tests");
        _dir = Directory.CreateTempSubdirectory("serverlessotlp-prom-").FullName;
        string config = Path.Combine(_dir, "prometheus.yml");
        await File.WriteAllTextAsync(config, "global:\n  scrape_interval: 1m\n");
        for (int attempt = 1; ; attempt++)
        {
            int port = Infrastructure.TestPorts.Next();
            BaseUri = new Uri($"http://127.0.0.1:{port}");
            if (await TryStartAsync(binary, config, port))
            {
                return;
            }

            // Another process bound the port between our check and Prometheus' bind: take another.
            if (attempt >= 5 || !Infrastructure.TestPorts.LostItsPort(Log))
            {
                throw new InvalidOperationException($"prometheus exited with {_process!.ExitCode}:\n{Log}");
            }
        }
    }

    private async Task<bool> TryStartAsync(string binary, string config, int port)
    {
        var start = new ProcessStartInfo(binary)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (string arg in new[]
                 {
                     "--web.enable-remote-write-receiver",
                     "--enable-feature=native-histograms",
                     $"--web.listen-address=127.0.0.1:{port}",
                     $"--storage.tsdb.path={Path.Combine(_dir, "data")}",
                     $"--config.file={config}",
                 })
        {
            start.ArgumentList.Add(arg);
        }

        _process?.Dispose();
        _process = Process.Start(start) ?? throw new InvalidOperationException("could not start prometheus");
        _process.ErrorDataReceived += (_, e) => Keep(e.Data);
        _process.OutputDataReceived += (_, e) => Keep(e.Data);
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();

        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            if (_process.HasExited)
            {
                _process.WaitForExit(); // the last output lines
                return false;
            }

            try
            {
                using var ready = await Http.GetAsync(new Uri(BaseUri, "/-/ready"));
                if (ready.StatusCode == HttpStatusCode.OK)
                {
                    return true;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"prometheus not ready after 60 s:\n{Log}");
            }

            await Task.Delay(200);
        }
    }

    /// <summary>An instant PromQL query: each result's labels and value.</summary>
    public async Task<List<(Dictionary<string, string> Labels, double Value)>> QueryAsync(string promql, DateTimeOffset? at = null)
    {
        string time = ((at ?? DateTimeOffset.UtcNow).ToUnixTimeMilliseconds() / 1000.0).ToString("0.###", CultureInfo.InvariantCulture);
        var uri = new Uri(BaseUri, $"/api/v1/query?query={Uri.EscapeDataString(promql)}&time={time}");
        using var response = await Http.GetAsync(uri);
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"query {promql}: {(int)response.StatusCode} {text}");
        using var json = JsonDocument.Parse(text);
        var results = new List<(Dictionary<string, string>, double)>();
        foreach (var item in json.RootElement.GetProperty("data").GetProperty("result").EnumerateArray())
        {
            var labels = item.GetProperty("metric").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
            double value = item.TryGetProperty("value", out var v)
                ? double.Parse(v[1].GetString()!, CultureInfo.InvariantCulture)
                : double.NaN; // a native histogram answers with "histogram"
            results.Add((labels, value));
        }

        return results;
    }

    /// <summary>The JSON of a query's first result (for native histograms).</summary>
    public async Task<JsonElement?> QueryRawAsync(string promql)
    {
        var uri = new Uri(BaseUri, $"/api/v1/query?query={Uri.EscapeDataString(promql)}");
        string text = await Http.GetStringAsync(uri);
        using var json = JsonDocument.Parse(text);
        var result = json.RootElement.GetProperty("data").GetProperty("result");
        return result.GetArrayLength() == 0 ? null : result[0].Clone();
    }

    public Task DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            _process.WaitForExit(10_000);
        }

        _process?.Dispose();
        Http.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // best effort
        }

        return Task.CompletedTask;
    }

    private void Keep(string? line)
    {
        if (line != null)
        {
            lock (_log)
            {
                _log.Add(line);
            }
        }
    }

    private static string? FindOnPath(string name)
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
