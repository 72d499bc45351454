using System.Text;

namespace ServerlessOtlp.Tenants;

/// <summary>
/// One problem in a tenant file. <see cref="Path"/> is the field (<c>tenants[0].destinations[1].kind</c>),
/// "" for the whole document, null for a JSON syntax error; <see cref="Line"/> and <see cref="Column"/> are 1-based.
/// </summary>
public sealed record TenantConfigError(string? File, int? Line, int? Column, string? Path, string Message)
{
    /// <summary>Compiler style: <c>file:line[:column]: path: message</c>.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        if (File is not null)
        {
            sb.Append(File);
            if (Line is not null)
            {
                sb.Append(':').Append(Line.Value);
                if (Column is not null)
                {
                    sb.Append(':').Append(Column.Value);
                }
            }

            sb.Append(": ");
        }

        if (!string.IsNullOrEmpty(Path))
        {
            sb.Append(Path).Append(": ");
        }

        return sb.Append(Message).ToString();
    }
}

/// <summary>A tenant file (or an apply) was refused; <see cref="Errors"/> lists every problem found.</summary>
public sealed class TenantConfigException : Exception
{
    public TenantConfigException(IReadOnlyList<TenantConfigError> errors)
        : base(Describe(errors))
    {
        Errors = errors;
    }

    public IReadOnlyList<TenantConfigError> Errors { get; }

    private static string Describe(IReadOnlyList<TenantConfigError> errors)
    {
        var sb = new StringBuilder();
        sb.Append(errors.Count == 1 ? "1 problem in the tenant configuration:" : $"{errors.Count} problems in the tenant configuration:");
        foreach (var error in errors)
        {
            sb.Append('\n').Append("  ").Append(error);
        }

        return sb.ToString();
    }
}
