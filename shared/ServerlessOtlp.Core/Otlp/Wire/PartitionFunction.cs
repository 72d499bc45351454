using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace ServerlessOtlp.Otlp.Wire;

/// <summary>
/// The documented, stable mapping from an item to a log partition. Every gateway, drainer and
/// test uses this one function; changing it re-homes every trace, so it is versioned with the log
/// format (<see cref="Version"/>).
/// <para>Spans: <c>key = splitmix64(BE64(trace_id[0..8]) XOR BE64(trace_id[8..16]))</c>, then
/// <c>partition = JumpConsistentHash(key, partitionCount)</c> (Lamping and Veach, 2014), so growing the
/// partition count moves only about 1/n of the traces.</para>
/// <para>Resources (metrics, and logs without a trace id): <c>key = FNV-1a-64</c> over the
/// resource's attributes sorted by key, each attribute's key bytes followed by its encoded value
/// bytes, then the same jump hash.</para>
/// </summary>
internal static class PartitionFunction
{
    /// <summary>Bumped whenever the mapping changes; recorded in every log event.</summary>
    public const int Version = 1;

    /// <summary>A trace id the specification calls valid: 16 bytes, not all zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsValidTraceId(ReadOnlySpan<byte> traceId)
    {
        if (traceId.Length != 16)
        {
            return false;
        }

        return (BinaryPrimitives.ReadUInt64LittleEndian(traceId) | BinaryPrimitives.ReadUInt64LittleEndian(traceId[8..])) != 0;
    }

    /// <summary>The partition of a valid 16-byte trace id.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int ForTraceId(ReadOnlySpan<byte> traceId, int partitionCount)
    {
        ulong key = BinaryPrimitives.ReadUInt64BigEndian(traceId) ^ BinaryPrimitives.ReadUInt64BigEndian(traceId[8..]);
        return JumpConsistentHash(SplitMix64(key), partitionCount);
    }

    /// <summary>The partition of a resource identity hash (see <see cref="ResourceIdentity"/>).</summary>
    public static int ForResourceHash(ulong resourceHash, int partitionCount) =>
        JumpConsistentHash(SplitMix64(resourceHash), partitionCount);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong SplitMix64(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    /// <summary>Jump consistent hash, "A Fast, Minimal Memory, Consistent Hash Algorithm".</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int JumpConsistentHash(ulong key, int buckets)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(buckets, 1);
        long b = -1, j = 0;
        while (j < buckets)
        {
            b = j;
            key = (key * 2862933555777941757UL) + 1;
            j = (long)((b + 1) * ((double)(1L << 31) / ((key >> 33) + 1)));
        }

        return (int)b;
    }
}
