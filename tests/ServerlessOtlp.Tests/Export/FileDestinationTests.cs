using Google.Protobuf;
using ServerlessOtlp.Export;
using ServerlessOtlp.Export.Files;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Tenants;
using ServerlessOtlp.Tests.Cli;
using ServerlessOtlp.Tests.Otlp;

namespace ServerlessOtlp.Tests.Export;

/// <summary>File destinations under the operator's root (issue 14, item 11): one tenant cannot reach another's files or fill the disk.</summary>
public sealed class FileDestinationTests
{
    [Fact]
    public async Task Each_tenant_writes_under_its_own_namespace_even_when_ids_differ_only_by_case()
    {
        string root = CliTestData.TempDir("file-root");
        var exporter = new FileExporter(new FileExportOptions { Root = root });

        Assert.Equal(ExportStatus.Success, (await exporter.ExportAsync(Traces("acme", "files"))).Status);
        Assert.Equal(ExportStatus.Success, (await exporter.ExportAsync(Traces("Acme", "files"))).Status);

        string acme = Path.Combine(root, TenantNamespace.Of("acme"), "files", "traces.jsonl");
        string upper = Path.Combine(root, TenantNamespace.Of("Acme"), "files", "traces.jsonl");
        Assert.NotEqual(acme, upper);
        Assert.Single(File.ReadAllLines(acme));
        Assert.Single(File.ReadAllLines(upper));
    }

    [Theory]
    [InlineData("../a")]
    [InlineData("..")]
    [InlineData("files/../../a")]
    [InlineData("files/..")]
    [InlineData("../../etc")]
    public async Task Tenant_b_cannot_reach_tenant_a_with_dot_dot(string relative)
    {
        string root = CliTestData.TempDir("file-root");
        var exporter = new FileExporter(new FileExportOptions { Root = root });
        Assert.Equal(ExportStatus.Success, (await exporter.ExportAsync(Traces("a", "files"))).Status);
        string aDir = Path.Combine(root, TenantNamespace.Of("a"));
        var before = Snapshot(root);

        // B aims at A's namespace by name too: "../t-…/files".
        foreach (string path in new[] { relative, $"../{TenantNamespace.Of("a")}/files" })
        {
            var outcome = await exporter.ExportAsync(Traces("b", path));
            Assert.Equal(ExportStatus.Permanent, outcome.Status);
            Assert.Contains("path", outcome.Message, StringComparison.Ordinal);
        }

        Assert.Equal(before, Snapshot(root));
        Assert.Single(File.ReadAllLines(Path.Combine(aDir, "files", "traces.jsonl")));
    }

    [Fact]
    public async Task Tenant_b_cannot_write_to_an_absolute_path_under_a_root()
    {
        string root = CliTestData.TempDir("file-root");
        string elsewhere = CliTestData.TempDir("file-elsewhere");
        var exporter = new FileExporter(new FileExportOptions { Root = root });
        Assert.Equal(ExportStatus.Success, (await exporter.ExportAsync(Traces("a", "files"))).Status);
        string aFiles = Path.Combine(root, TenantNamespace.Of("a"), "files");

        foreach (string path in new[] { aFiles, elsewhere, "/tmp", "C:\\otlp", "\\\\server\\share" })
        {
            var outcome = await exporter.ExportAsync(Traces("b", path));
            Assert.Equal(ExportStatus.Permanent, outcome.Status);
            Assert.Contains("is absolute", outcome.Message, StringComparison.Ordinal);
        }

        Assert.Empty(Directory.EnumerateFileSystemEntries(elsewhere));
        Assert.Single(File.ReadAllLines(Path.Combine(aFiles, "traces.jsonl")));
    }

    [Fact]
    public async Task A_symlink_cannot_lead_tenant_b_into_tenant_a_s_directory()
    {
        string root = CliTestData.TempDir("file-root");
        var exporter = new FileExporter(new FileExportOptions { Root = root });
        Assert.Equal(ExportStatus.Success, (await exporter.ExportAsync(Traces("a", "files"))).Status);
        string aFiles = Path.Combine(root, TenantNamespace.Of("a"), "files");
        string bDir = Path.Combine(root, TenantNamespace.Of("b"));
        Directory.CreateDirectory(Path.Combine(bDir, "real"));

        // Planted by anything but a tenant (tenants cannot make links): a directory link, a file
        // link, and B's whole namespace as a link.
        Directory.CreateSymbolicLink(Path.Combine(bDir, "files"), aFiles);
        File.CreateSymbolicLink(Path.Combine(bDir, "real", "traces.jsonl"), Path.Combine(aFiles, "traces.jsonl"));
        string cDir = Path.Combine(root, TenantNamespace.Of("c"));
        Directory.CreateSymbolicLink(cDir, Path.Combine(root, TenantNamespace.Of("a")));

        foreach (var (tenant, path) in new[] { ("b", "files"), ("b", "files/deeper"), ("b", "real"), ("c", "files") })
        {
            var outcome = await exporter.ExportAsync(Traces(tenant, path));
            Assert.Equal(ExportStatus.Permanent, outcome.Status);
            Assert.Contains("is a symbolic link", outcome.Message, StringComparison.Ordinal);
        }

        Assert.Single(File.ReadAllLines(Path.Combine(aFiles, "traces.jsonl")));
        Assert.False(Directory.Exists(Path.Combine(aFiles, "deeper")));
    }

    [Fact]
    public async Task Without_a_root_a_file_destination_is_refused()
    {
        string dir = CliTestData.TempDir("file-noroot");

        var outcome = await new FileExporter().ExportAsync(Traces("a", dir));

        Assert.Equal(ExportStatus.Permanent, outcome.Status);
        Assert.Contains("ServerlessOtlp:Export:FileRoot", outcome.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(dir));
    }

    [Fact]
    public async Task Otlpctl_dev_without_a_root_writes_where_the_path_says()
    {
        string dir = CliTestData.TempDir("file-dev");

        var outcome = await new FileExporter(TestEgress.Local.Files).ExportAsync(Traces("a", dir));

        Assert.Equal(ExportStatus.Success, outcome.Status);
        Assert.Single(File.ReadAllLines(Path.Combine(dir, "traces.jsonl")));
    }

    [Fact]
    public async Task Rotation_keeps_at_most_the_configured_number_of_rotated_files()
    {
        string root = CliTestData.TempDir("file-rotate");
        var exporter = new FileExporter(new FileExportOptions { Root = root, MaxFileBytes = 1, MaxRotatedFiles = 3 });
        string dir = Path.Combine(root, TenantNamespace.Of("a"), "files");

        for (int i = 0; i < 20; i++)
        {
            var outcome = await exporter.ExportAsync(Traces("a", "files", seed: i));
            Assert.True(outcome.Status == ExportStatus.Success, outcome.Message);
            Assert.True(Rotated(dir).Count <= 3, $"{Rotated(dir).Count} rotated files after export {i}");
        }

        // Every export after the first rotated the one before: the 3 newest are kept (exports 16 to 18; 19 is current).
        var kept = Rotated(dir).Select(f => File.ReadAllText(f.FullName)).ToList();
        Assert.Equal(3, kept.Count);
        for (int i = 0; i < 20; i++)
        {
            Assert.Equal(i is >= 16 and <= 18 ? 1 : 0, kept.Count(text => text.Contains($"\"{SpanName(i)}\"", StringComparison.Ordinal)));
        }

        Assert.Contains(SpanName(19), File.ReadAllText(Path.Combine(dir, "traces.jsonl")), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rotation_keeps_the_rotated_files_within_the_configured_bytes()
    {
        string root = CliTestData.TempDir("file-rotate");
        long line = new FileInfo(await WriteOneAsync(CliTestData.TempDir("file-line"))).Length;
        long bound = (line * 5) / 2;
        var exporter = new FileExporter(new FileExportOptions { Root = root, MaxFileBytes = 1, MaxRotatedFiles = 1000, MaxRotatedBytes = bound });
        string dir = Path.Combine(root, TenantNamespace.Of("a"), "files");

        for (int i = 0; i < 20; i++)
        {
            Assert.Equal(ExportStatus.Success, (await exporter.ExportAsync(Traces("a", "files"))).Status);
            long total = Rotated(dir).Sum(f => f.Length);
            Assert.True(total <= bound, $"{total} bytes of rotated files after export {i}, bound {bound}");
        }

        Assert.Equal(2, Rotated(dir).Count);
    }

    [Fact]
    public void File_export_configuration_is_read_and_a_bad_number_stops_the_host()
    {
        var options = FileExportOptions.FromConfiguration(EgressTests.Configuration(new()
        {
            ["ServerlessOtlp:Export:FileRoot"] = "/var/otlp",
            ["ServerlessOtlp:Export:FileMaxBytes"] = "1048576",
            ["ServerlessOtlp:Export:FileMaxRotatedFiles"] = "4",
            ["ServerlessOtlp:Export:FileMaxRotatedBytes"] = "8388608",
        }));

        Assert.Equal(new FileExportOptions { Root = "/var/otlp", MaxFileBytes = 1048576, MaxRotatedFiles = 4, MaxRotatedBytes = 8388608 }, options);
        Assert.Equal(new FileExportOptions(), FileExportOptions.FromConfiguration(EgressTests.Configuration(new())));
        var ex = Assert.Throws<InvalidOperationException>(() => FileExportOptions.FromConfiguration(EgressTests.Configuration(new() { ["ServerlessOtlp:Export:FileMaxRotatedFiles"] = "-1" })));
        Assert.Contains("FileMaxRotatedFiles", ex.Message, StringComparison.Ordinal);
    }

    private static async Task<string> WriteOneAsync(string dir)
    {
        await new FileExporter(TestEgress.Local.Files).ExportAsync(Traces("a", dir));
        return Path.Combine(dir, "traces.jsonl");
    }

    private static List<FileInfo> Rotated(string dir) =>
        new DirectoryInfo(dir).EnumerateFiles("traces-*.jsonl").ToList();

    private static string SpanName(int seed) => "span-of-export-" + seed;

    private static ExportRequest Traces(string tenant, string path, int seed = 0)
    {
        var traces = OtlpTestData.Traces(1, resources: 1, scopes: 1, spans: 1, invalidShare: 0);
        traces.ResourceSpans[0].ScopeSpans[0].Spans[0].Name = SpanName(seed);
        return new ExportRequest(
            new TenantConfig { Id = tenant },
            new DestinationConfig { Name = "files", Kind = FileDestination.KindName, Signals = [Signal.Traces], Settings = new FileSettings { Path = path } },
            Signal.Traces,
            traces,
            traces.ToByteArray());
    }

    private static string[] Snapshot(string root) =>
        [.. Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories).Select(p => p + ":" + (File.Exists(p) ? new FileInfo(p).Length : -1)).Order(StringComparer.Ordinal)];
}
