using System.Reflection;
using OpenTelemetry;
using OpenTelemetry.Logs;

namespace ServerlessOtlp.Client.Implementation;

/// <summary>
/// The two non-public SDK members the failover exporter needs. Both are looked up once; if a later
/// SDK renames them the exporter degrades as documented, never throws. Checked again in
/// OpenTelemetry 1.21.0: <c>BaseExporter&lt;T&gt;.ParentProvider</c> still has only a public getter
/// (<c>PublicAPI.Shipped.txt</c> lists <c>ParentProvider.get</c> alone), the OTLP exporters' public
/// constructors take only <c>OtlpExporterOptions</c> (no resource), and <c>LogRecord.Copy()</c> is
/// internal with no public constructor or clone to replace it.
/// </summary>
internal static class SdkInternals
{
    /// <summary>
    /// An OTLP exporter reads the resource from its <c>ParentProvider</c>, which only the SDK can
    /// set (internal setter). The inner exporters are not attached to a provider, so the failover
    /// exporter hands its own provider down; without it, the resource would be empty.
    /// </summary>
    public static bool TrySetParentProvider<T>(BaseExporter<T> exporter, BaseProvider? provider)
        where T : class
    {
        var setter = typeof(BaseExporter<T>).GetProperty(nameof(BaseExporter<T>.ParentProvider))?.GetSetMethod(nonPublic: true);
        if (setter == null || provider == null)
        {
            return false;
        }

        setter.Invoke(exporter, [provider]);
        return true;
    }

    /// <summary>
    /// <c>LogRecord.Copy()</c>: a log record of the batch processor belongs to a shared pool and
    /// goes back to it while the batch is enumerated, so a record kept for a second attempt or
    /// for the buffer must be a copy. Null when the SDK no longer has the method.
    /// </summary>
    public static Func<LogRecord, LogRecord>? CopyLogRecord { get; } =
        typeof(LogRecord).GetMethod("Copy", BindingFlags.Instance | BindingFlags.NonPublic, Type.EmptyTypes) is { } copy && copy.ReturnType == typeof(LogRecord)
            ? copy.CreateDelegate<Func<LogRecord, LogRecord>>()
            : null;
}
