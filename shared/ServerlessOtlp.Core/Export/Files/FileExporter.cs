using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using ServerlessOtlp.Otlp;
using ServerlessOtlp.Otlp.Json;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Export.Files;

/// <summary>
/// Where file destinations may write and how much they keep (section <c>ServerlessOtlp:Export</c>).
/// With a <see cref="Root"/>, a destination's relative <c>path</c> resolves under
/// <c>&lt;root&gt;/&lt;tenant namespace&gt;/</c>; without one, file destinations are refused unless
/// <see cref="AnyPathWithoutRoot"/> (only <c>otlpctl dev</c>, whose operator writes every tenant file).
/// </summary>
public sealed record FileExportOptions
{
    public const string Section = "ServerlessOtlp:Export";

    /// <summary>The operator's directory for every tenant's files (<c>ServerlessOtlp:Export:FileRoot</c>).</summary>
    public string? Root { get; init; }

    /// <summary>Without a root, use a destination's path as written (absolute or relative to the working directory).</summary>
    public bool AnyPathWithoutRoot { get; init; }

    /// <summary>Rotate a file once it passes this size (<c>FileMaxBytes</c>).</summary>
    public long MaxFileBytes { get; init; } = 100L * 1024 * 1024;

    /// <summary>Rotated files kept per destination directory, oldest deleted first (<c>FileMaxRotatedFiles</c>).</summary>
    public int MaxRotatedFiles { get; init; } = 10;

    /// <summary>Bytes of rotated files kept per destination directory, oldest deleted first (<c>FileMaxRotatedBytes</c>).</summary>
    public long MaxRotatedBytes { get; init; } = 1024L * 1024 * 1024;

    /// <summary>Reads <c>FileRoot</c>, <c>FileMaxBytes</c>, <c>FileMaxRotatedFiles</c> and <c>FileMaxRotatedBytes</c> of <c>ServerlessOtlp:Export</c>.</summary>
    public static FileExportOptions FromConfiguration(IConfiguration configuration)
    {
        var section = configuration.GetSection(Section);
        var defaults = new FileExportOptions();
        return new FileExportOptions
        {
            Root = string.IsNullOrWhiteSpace(section["FileRoot"]) ? null : section["FileRoot"],
            MaxFileBytes = Number(section, "FileMaxBytes", defaults.MaxFileBytes, min: 1),
            MaxRotatedFiles = (int)Number(section, "FileMaxRotatedFiles", defaults.MaxRotatedFiles, min: 0, max: int.MaxValue),
            MaxRotatedBytes = Number(section, "FileMaxRotatedBytes", defaults.MaxRotatedBytes, min: 0),
        };
    }

    private static long Number(IConfigurationSection section, string key, long fallback, long min, long max = long.MaxValue)
    {
        if (section[key] is not { } text)
        {
            return fallback;
        }

        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long value) && value >= min && value <= max
            ? value
            : throw new InvalidOperationException($"{Section}:{key}: \"{text}\" is not a whole number from {min}");
    }
}

/// <summary>
/// The <c>file</c> destination: OTLP/JSON lines, one export request per line, in
/// <c>traces.jsonl</c>, <c>metrics.jsonl</c>, <c>logs.jsonl</c> under the destination's directory
/// (<see cref="FileExportOptions"/>: under the operator's root and the tenant's namespace, never
/// through a symbolic link); rotated by size to <c>traces-{UTC time}.jsonl</c>, keeping at most
/// <see cref="FileExportOptions.MaxRotatedFiles"/> rotated files and
/// <see cref="FileExportOptions.MaxRotatedBytes"/> per directory. Each line is written with one
/// append call, so several processes can share a file without interleaving inside a line.
/// </summary>
public sealed partial class FileExporter : IDestinationExporter
{
    private readonly FileExportOptions _options;
    private readonly string? _root;
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _locks = new(StringComparer.Ordinal);

    public FileExporter(FileExportOptions? options = null)
    {
        _options = options ?? new FileExportOptions();
        _root = _options.Root is { } root ? Path.TrimEndingDirectorySeparator(Path.GetFullPath(root)) : null;
    }

    public string Kind => FileDestination.KindName;

    /// <summary>
    /// The directory a tenant's destination path names, or why it is refused: under a root, the
    /// relative path below the tenant's namespace; without one, the path as written when allowed.
    /// </summary>
    public (string? Directory, string? Refusal) DirectoryFor(string tenantId, string? path)
    {
        if (_root is null)
        {
            if (!_options.AnyPathWithoutRoot)
            {
                return (null, $"file destinations need the operator's file root ({FileExportOptions.Section}:FileRoot), and this deployment has none");
            }

            return string.IsNullOrWhiteSpace(path) ? (null, "file destination has no path") : (path, null);
        }

        if (FileDestinationPaths.CheckRelative(path) is { } problem)
        {
            return (null, "path " + problem);
        }

        string own = Path.Combine(_root, TenantNamespace.Of(tenantId));
        string directory = Path.TrimEndingDirectorySeparator(Path.GetFullPath(Path.Combine(own, path!)));

        // CheckRelative already refuses "..": this holds whatever a path normalizes to.
        return directory == own || directory.StartsWith(own + Path.DirectorySeparatorChar, StringComparison.Ordinal)
            ? (directory, null)
            : (null, $"path \"{path}\" leaves the tenant's directory");
    }

    public async Task<ExportOutcome> ExportAsync(ExportRequest request, CancellationToken cancellationToken = default)
    {
        var (dir, refusal) = DirectoryFor(request.Tenant.Id, FileDestination.SettingsOf(request.Destination).Path);
        if (dir is null)
        {
            return ExportOutcome.Permanent(refusal!);
        }

        string name = request.Signal.ToName();
        string file = Path.Combine(dir, name + ".jsonl");
        var json = OtlpJson.Format(request.Message);
        var bytes = Encoding.UTF8.GetBytes(json + "\n");
        var gate = _locks.GetOrAdd(file, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken);
        try
        {
            if (_root is not null && LinkOnTheWay(dir, file) is { } link)
            {
                return ExportOutcome.Permanent($"{link} is a symbolic link; file destinations never write through one");
            }

            Directory.CreateDirectory(dir);
            if (RotateIfLarge(file, dir, name))
            {
                KeepRotatedWithinBounds(dir);
            }

            await using var stream = new FileStream(file, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0, useAsync: false);
            stream.Write(bytes);
            return ExportOutcome.Ok;
        }
        catch (IOException ex)
        {
            // Disk full or a transient lock: worth retrying.
            return new ExportOutcome(ExportStatus.Transient, ex.Message);
        }
        catch (UnauthorizedAccessException ex)
        {
            return new ExportOutcome(ExportStatus.Permanent, ex.Message);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>
    /// The first symbolic link from the tenant's namespace directory down to the file, checked
    /// before anything is created (creating a directory would follow a link). Tenants cannot make
    /// links; this stops one planted by anything else from leading a tenant into another's files.
    /// </summary>
    private string? LinkOnTheWay(string dir, string file)
    {
        string relative = Path.GetRelativePath(_root!, dir);
        string current = _root!;
        foreach (string segment in relative.Split(Path.DirectorySeparatorChar))
        {
            current = Path.Combine(current, segment);
            if (IsLink(current))
            {
                return current;
            }

            if (!Directory.Exists(current))
            {
                // Below a directory that does not exist yet, nothing does: CreateDirectory makes real ones.
                return null;
            }
        }

        return IsLink(file) ? file : null;
    }

    private static bool IsLink(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget is not null;
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return false;
        }
    }

    /// <summary>Moves <paramref name="file"/> aside once it is large; true when it did.</summary>
    private bool RotateIfLarge(string file, string dir, string name)
    {
        var info = new FileInfo(file);
        if (!info.Exists || info.Length < _options.MaxFileBytes)
        {
            return false;
        }

        string stamp = DateTime.UtcNow.ToString("yyyyMMdd'T'HHmmssfff", CultureInfo.InvariantCulture);
        string rotated = Path.Combine(dir, $"{name}-{stamp}.jsonl");
        for (int n = 1; File.Exists(rotated); n++)
        {
            // Two rotations within a millisecond: the second gets a suffix rather than failing.
            rotated = Path.Combine(dir, $"{name}-{stamp}-{n}.jsonl");
        }

        try
        {
            File.Move(file, rotated);
            return true;
        }
        catch (IOException)
        {
            // Another process rotated it first.
            return false;
        }
    }

    /// <summary>Deletes the oldest rotated files of a directory until at most the configured count and bytes remain.</summary>
    private void KeepRotatedWithinBounds(string dir)
    {
        // Oldest first by the rotation time in the name (and the suffix of rotations within one millisecond).
        var rotated = new List<(FileInfo File, string Stamp, int Suffix)>();
        foreach (var file in new DirectoryInfo(dir).EnumerateFiles("*.jsonl"))
        {
            var match = RotatedName().Match(file.Name);
            if (match.Success)
            {
                rotated.Add((file, match.Groups["stamp"].Value, match.Groups["n"].Success ? int.Parse(match.Groups["n"].ValueSpan, CultureInfo.InvariantCulture) : 0));
            }
        }

        rotated.Sort((x, y) => string.CompareOrdinal(x.Stamp, y.Stamp) is var byStamp and not 0 ? byStamp : x.Suffix.CompareTo(y.Suffix));
        long bytes = rotated.Sum(f => f.File.Length);
        int count = rotated.Count;
        foreach (var (oldest, _, _) in rotated)
        {
            if (count <= _options.MaxRotatedFiles && bytes <= _options.MaxRotatedBytes)
            {
                break;
            }

            long length = oldest.Length; // FileInfo forgets it once deleted
            oldest.Delete();
            count--;
            bytes -= length;
        }
    }

    [GeneratedRegex(@"^(traces|metrics|logs)-(?<stamp>\d{8}T\d{9})(-(?<n>\d{1,9}))?\.jsonl\z", RegexOptions.CultureInvariant)]
    private static partial Regex RotatedName();
}
