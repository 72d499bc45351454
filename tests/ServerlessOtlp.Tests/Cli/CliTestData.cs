using System.Text.Json;

namespace ServerlessOtlp.Tests.Cli;

internal static class CliTestData
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static string TempDir(string prefix)
    {
        string dir = Path.Combine(Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>A tenant file with one tenant, one key and a file destination for all signals.</summary>
    public static string TenantFile(string dir, string tenant, string key, string outputDir)
    {
        string path = Path.Combine(dir, "tenants.json");
        var doc = new
        {
            tenants = new[]
            {
                new
                {
                    id = tenant,
                    apiKeys = new[] { key },
                    destinations = new[] { new { name = "files", kind = "file", signals = new[] { "traces", "metrics", "logs" }, path = outputDir } },
                },
            },
        };
        File.WriteAllText(path, JsonSerializer.Serialize(doc, Indented));
        return path;
    }

    public static string NewKey() => "k-" + Guid.NewGuid().ToString("N");

    /// <summary>A new key as otlpctl prints it: alone on stdout (the words around it go to stderr).</summary>
    public static string KeyFrom(string stdout)
    {
        var lines = stdout.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, "expected the key alone on stdout:\n" + stdout);
        return lines[0];
    }
}
