namespace ServerlessOtlp.Pipeline.Sampling;

/// <summary>
/// Reads and rewrites the <c>ot</c> list-member of a W3C trace state
/// (<c>vendor=value,ot=th:c;rv:01234567890abc,…</c>), leaving every other member as it was.
/// </summary>
internal readonly record struct OtelTraceState(ulong? Threshold, ulong? Randomness, string? OtherOtFields)
{
    public static OtelTraceState Parse(string? traceState)
    {
        if (string.IsNullOrEmpty(traceState))
        {
            return default;
        }

        var ot = FindOt(traceState, out _, out _);
        if (ot.IsEmpty)
        {
            return default;
        }

        ulong? th = null, rv = null;
        var others = new List<string>();
        foreach (var range in ot.Split(';'))
        {
            var field = ot[range];
            if (field.StartsWith("th:") && ConsistentProbability.TryParseThreshold(field[3..], out ulong t))
            {
                th = t;
            }
            else if (field.StartsWith("rv:") && ConsistentProbability.TryParseRandomness(field[3..], out ulong r))
            {
                rv = r;
            }
            else if (!field.IsEmpty && !field.StartsWith("th:") && !field.StartsWith("rv:"))
            {
                others.Add(field.ToString());
            }
        }

        return new OtelTraceState(th, rv, others.Count == 0 ? null : string.Join(';', others));
    }

    /// <summary>Returns <paramref name="traceState"/> with the <c>ot</c> member's <c>th</c> set (or erased when null), <c>rv</c> kept.</summary>
    public static string WithThreshold(string? traceState, ulong? threshold)
    {
        traceState ??= "";
        var parsed = Parse(traceState);
        var parts = new List<string>(3);
        if (threshold is ulong t)
        {
            parts.Add("th:" + ConsistentProbability.FormatThreshold(t));
        }

        if (parsed.Randomness is ulong r)
        {
            parts.Add("rv:" + r.ToString("x14", System.Globalization.CultureInfo.InvariantCulture));
        }

        if (parsed.OtherOtFields != null)
        {
            parts.Add(parsed.OtherOtFields);
        }

        var ot = FindOt(traceState, out int start, out int length);
        string rest = ot.IsEmpty ? traceState : RemoveMember(traceState, start, length);
        if (parts.Count == 0)
        {
            return rest;
        }

        // The W3C rule: a modified member moves to the front of the list.
        string member = "ot=" + string.Join(';', parts);
        return rest.Length == 0 ? member : member + "," + rest;
    }

    private static ReadOnlySpan<char> FindOt(string traceState, out int memberStart, out int memberLength)
    {
        int pos = 0;
        while (pos < traceState.Length)
        {
            int comma = traceState.IndexOf(',', pos);
            int end = comma < 0 ? traceState.Length : comma;
            var member = traceState.AsSpan(pos, end - pos).Trim();
            if (member.StartsWith("ot="))
            {
                memberStart = pos;
                memberLength = end - pos;
                return member[3..];
            }

            pos = end + 1;
        }

        memberStart = -1;
        memberLength = 0;
        return default;
    }

    private static string RemoveMember(string traceState, int start, int length)
    {
        int end = start + length;
        if (end < traceState.Length && traceState[end] == ',')
        {
            end++;
        }
        else if (start > 0 && traceState[start - 1] == ',')
        {
            start--;
        }

        return (traceState[..start] + traceState[end..]).Trim().Trim(',');
    }
}
