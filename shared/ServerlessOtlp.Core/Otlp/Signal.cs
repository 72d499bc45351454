namespace ServerlessOtlp.Otlp;

/// <summary>The three OTLP signals. The numeric values are stored in log events; do not reorder.</summary>
public enum Signal : byte
{
    Traces = 1,
    Metrics = 2,
    Logs = 3,
}

public static class SignalNames
{
    public static string ToName(this Signal signal) => signal switch
    {
        Signal.Traces => "traces",
        Signal.Metrics => "metrics",
        Signal.Logs => "logs",
        _ => throw new ArgumentOutOfRangeException(nameof(signal)),
    };

    public static bool TryParse(string? name, out Signal signal)
    {
        switch (name)
        {
            case "traces": signal = Signal.Traces; return true;
            case "metrics": signal = Signal.Metrics; return true;
            case "logs": signal = Signal.Logs; return true;
            default: signal = default; return false;
        }
    }
}
