namespace ServerlessOtlp.Otlp.Json;

/// <summary>OTLP/JSON input that cannot be decoded; the message says what and, when known, where.</summary>
public sealed class OtlpJsonException : FormatException
{
    public OtlpJsonException()
    {
    }

    public OtlpJsonException(string message)
        : base(message)
    {
    }

    public OtlpJsonException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
