using System.Text.RegularExpressions;

namespace ServerlessOtlp.Tenants;

/// <summary>
/// The <c>path</c> of a file destination when the operator has a file root: a relative directory,
/// resolved under <c>&lt;root&gt;/&lt;tenant namespace&gt;/</c> (<see cref="TenantNamespace"/>), so
/// two tenants can never name the same directory. Segments of A-Z a-z 0-9 _ . - that do not start
/// with a dot, separated by <c>/</c>: no absolute path, drive, <c>..</c>, backslash or hidden name.
/// </summary>
internal static partial class FileDestinationPaths
{
    /// <summary>Directories below the tenant's namespace, at most.</summary>
    public const int MaxSegments = 8;

    public const string Expected = "a relative directory under the operator's file root: up to 8 segments of A-Z a-z 0-9 _ . - (not starting with a dot) separated by /";

    /// <summary>Null when <paramref name="path"/> is a valid relative destination path; else why not.</summary>
    public static string? CheckRelative(string? path)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            return "is required for kind file (" + Expected + ")";
        }

        if (path.StartsWith('/') || path.StartsWith('\\') || Path.IsPathRooted(path) || path.Contains(':', StringComparison.Ordinal))
        {
            return $"\"{path}\" is absolute; expected {Expected}";
        }

        string[] segments = path.TrimEnd('/').Split('/');
        if (segments.Length > MaxSegments)
        {
            return $"\"{path}\" has more than {MaxSegments} segments";
        }

        foreach (string segment in segments)
        {
            if (!SegmentRegex().IsMatch(segment))
            {
                return segment is ".." ? $"\"{path}\" leaves its directory (..); expected {Expected}" : $"\"{path}\" is not {Expected}";
            }
        }

        return null;
    }

    [GeneratedRegex(@"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\z", RegexOptions.CultureInvariant)]
    private static partial Regex SegmentRegex();
}
