namespace ServerlessOtlp.Otlp.Wire;

/// <summary>Counts the data points of an encoded <c>Metric</c>: OTLP counts metrics in data points.</summary>
internal static class MetricDataPoints
{
    // Metric.data oneof in opentelemetry-proto v1: gauge = 5, sum = 7, histogram = 9,
    // exponential_histogram = 10, summary = 11; each holds repeated data_points = 1.
    private const int DataPointsField = 1;

    public static int Count(ReadOnlySpan<byte> metric)
    {
        int count = 0;
        int pos = 0;
        while (ProtoWire.TryReadTag(metric, ref pos, out int field, out int wireType))
        {
            if (wireType == ProtoWire.WireLengthDelimited && field is 5 or 7 or 9 or 10 or 11)
            {
                int len = ProtoWire.ReadLength(metric, ref pos);
                count += CountField(metric.Slice(pos, len), DataPointsField);
                pos += len;
            }
            else
            {
                ProtoWire.SkipValue(metric, ref pos, wireType);
            }
        }

        return count;
    }

    private static int CountField(ReadOnlySpan<byte> message, int wanted)
    {
        int count = 0;
        int pos = 0;
        while (ProtoWire.TryReadTag(message, ref pos, out int field, out int wireType))
        {
            if (field == wanted && wireType == ProtoWire.WireLengthDelimited)
            {
                count++;
            }

            ProtoWire.SkipValue(message, ref pos, wireType);
        }

        return count;
    }
}
