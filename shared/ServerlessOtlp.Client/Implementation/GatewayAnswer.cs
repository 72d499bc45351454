namespace ServerlessOtlp.Client.Implementation;

/// <summary>What the answer to one export attempt means for the next step (OTLP specification, "Failures").</summary>
internal enum AnswerKind
{
    Success,

    /// <summary>The endpoint could not take it (UNAVAILABLE, DEADLINE_EXCEEDED…, or no answer at all): retry, then fail over.</summary>
    Retryable,

    /// <summary>RESOURCE_EXHAUSTED with <c>RetryInfo</c>: the tenant is throttled; wait as asked, then retry. Not the endpoint's fault.</summary>
    Throttled,

    /// <summary>Will fail on every endpoint (UNAUTHENTICATED, INVALID_ARGUMENT, PERMISSION_DENIED, RESOURCE_EXHAUSTED without RetryInfo…): drop and count.</summary>
    Rejected,
}

/// <summary>The gateway's answer to one attempt, as seen on the wire by <see cref="ResponseObserver"/>.</summary>
internal readonly record struct GatewayAnswer(AnswerKind Kind, int GrpcStatus, TimeSpan? RetryDelay)
{
    /// <summary>No answer at all: the connection failed or timed out.</summary>
    public static GatewayAnswer NoAnswer { get; } = new(AnswerKind.Retryable, 14, null);

    public string StatusName => GrpcStatus switch
    {
        0 => "OK",
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "CODE_" + GrpcStatus,
    };

    /// <summary>The OTLP/gRPC retry rules: RESOURCE_EXHAUSTED is retryable only when the server sent RetryInfo.</summary>
    public static GatewayAnswer FromGrpc(int status, TimeSpan? retryDelay) => new(
        status switch
        {
            0 => AnswerKind.Success,
            1 or 4 or 10 or 11 or 14 or 15 => AnswerKind.Retryable,
            8 => retryDelay is null ? AnswerKind.Rejected : AnswerKind.Throttled,
            _ => AnswerKind.Rejected,
        },
        status,
        retryDelay);

    /// <summary>An HTTP answer without a gRPC status (a proxy in the way): the gRPC specification's mapping.</summary>
    public static GatewayAnswer FromHttp(int httpStatus) => FromGrpc(
        httpStatus switch
        {
            400 => 13,
            401 => 16,
            403 => 7,
            404 => 12,
            429 or 502 or 503 or 504 => 14,
            _ => 2,
        },
        null);

    /// <summary>
    /// The <c>RetryInfo.retry_delay</c> inside a <c>grpc-status-details-bin</c> value (base64 of a
    /// <c>google.rpc.Status</c>), read by hand: the client does not depend on Google.Protobuf.
    /// Null when absent or malformed.
    /// </summary>
    public static TimeSpan? ParseRetryDelay(string? statusDetailsBase64)
    {
        if (string.IsNullOrEmpty(statusDetailsBase64))
        {
            return null;
        }

        string padded = statusDetailsBase64.Trim();
        padded += new string('=', (4 - (padded.Length % 4)) % 4); // gRPC may omit the padding
        try
        {
            // Status { 3: repeated Any details }, Any { 1: type_url, 2: value }, RetryInfo { 1: Duration }, Duration { 1: seconds, 2: nanos }.
            foreach (var detail in Fields(Convert.FromBase64String(padded), 3))
            {
                var typeUrl = Fields(detail, 1).FirstOrDefault();
                if (typeUrl == null || !System.Text.Encoding.UTF8.GetString(typeUrl).EndsWith("/google.rpc.RetryInfo", StringComparison.Ordinal))
                {
                    continue;
                }

                var info = Fields(detail, 2).FirstOrDefault() ?? [];
                var duration = Fields(info, 1).FirstOrDefault() ?? [];
                long seconds = 0, nanos = 0;
                int pos = 0;
                while (pos < duration.Length)
                {
                    ulong tag = ReadVarint(duration, ref pos);
                    if ((tag & 7) != 0)
                    {
                        return null;
                    }

                    long value = (long)ReadVarint(duration, ref pos);
                    if (tag >> 3 == 1)
                    {
                        seconds = value;
                    }
                    else if (tag >> 3 == 2)
                    {
                        nanos = (int)value;
                    }
                }

                return TimeSpan.FromSeconds(Math.Clamp(seconds, 0, 86_400)) + TimeSpan.FromTicks(Math.Max(0, nanos) / 100);
            }
        }
        catch (FormatException)
        {
        }

        return null;
    }

    /// <summary>The length-delimited fields numbered <paramref name="field"/> of a protobuf message.</summary>
    private static List<byte[]> Fields(byte[] message, int field)
    {
        var found = new List<byte[]>();
        int pos = 0;
        while (pos < message.Length)
        {
            ulong tag = ReadVarint(message, ref pos);
            switch (tag & 7)
            {
                case 0:
                    ReadVarint(message, ref pos);
                    break;
                case 1:
                    pos += 8;
                    break;
                case 2:
                    ulong len = ReadVarint(message, ref pos);
                    if (len > (ulong)(message.Length - pos))
                    {
                        throw new FormatException("truncated field");
                    }

                    if ((int)(tag >> 3) == field)
                    {
                        found.Add(message.AsSpan(pos, (int)len).ToArray());
                    }

                    pos += (int)len;
                    break;
                case 5:
                    pos += 4;
                    break;
                default:
                    throw new FormatException("unsupported wire type");
            }
        }

        return found;
    }

    private static ulong ReadVarint(byte[] data, ref int pos)
    {
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (pos >= data.Length)
            {
                throw new FormatException("truncated varint");
            }

            byte b = data[pos++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }

        throw new FormatException("varint too long");
    }
}
