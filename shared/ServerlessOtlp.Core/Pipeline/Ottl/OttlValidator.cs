using ServerlessOtlp.Otlp;
using ServerlessOtlp.Tenants;

namespace ServerlessOtlp.Pipeline.Ottl;

/// <summary>
/// The apply-time check of tenant files (<see cref="TenantFileParser"/> uses it by default):
/// parses and type-checks each statement or condition for its signal exactly as the pipeline
/// will compile it, and answers <c>line:column: reason</c>.
/// </summary>
internal sealed class OttlValidator : IOttlValidator
{
    public string? Validate(string statement, string context)
    {
        var (signal, isCondition) = ParseContext(context);
        try
        {
            if (isCondition)
            {
                OttlCompiler.CompileCondition(statement, signal, validateOnly: true);
            }
            else
            {
                OttlCompiler.CompileStatement(statement, signal, validateOnly: true);
            }

            return null;
        }
        catch (OttlParseException ex)
        {
            return OttlCompiler.Describe(ex);
        }
    }

    private static (Signal Signal, bool IsCondition) ParseContext(string context)
    {
        int dot = context.IndexOf('.', StringComparison.Ordinal);
        if (dot < 0 || !SignalNames.TryParse(context[(dot + 1)..], out var signal))
        {
            throw new ArgumentException($"unknown OTTL context \"{context}\"; expected one of OttlContexts", nameof(context));
        }

        return (signal, OttlContexts.IsCondition(context));
    }
}
