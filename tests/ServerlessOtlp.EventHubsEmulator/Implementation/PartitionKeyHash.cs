using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace ServerlessOtlp.EventHubsEmulator.Implementation;

/// <summary>
/// Maps a partition key to a partition the way Event Hubs does: Bob Jenkins' lookup3 "hashlittle2" over the
/// key's UTF-8 bytes with zero seeds, the two 32-bit results XORed and truncated to 16 bits, modulo the
/// partition count. The SDK's buffered producer resolves keys with the same function.
/// </summary>
internal static class PartitionKeyHash
{
    public static int PartitionIndex(string partitionKey, int partitionCount)
    {
        short hash = Hash(partitionKey);
        return Math.Abs(hash % partitionCount);
    }

    public static short Hash(string partitionKey)
    {
        byte[] key = Encoding.UTF8.GetBytes(partitionKey);
        HashLittle2(key, out uint primary, out uint secondary);
        return (short)(primary ^ secondary);
    }

    private static void HashLittle2(ReadOnlySpan<byte> key, out uint primary, out uint secondary)
    {
        uint a = 0xdeadbeef + (uint)key.Length;
        uint b = a;
        uint c = a;

        while (key.Length > 12)
        {
            a += BinaryPrimitives.ReadUInt32LittleEndian(key);
            b += BinaryPrimitives.ReadUInt32LittleEndian(key[4..]);
            c += BinaryPrimitives.ReadUInt32LittleEndian(key[8..]);
            Mix(ref a, ref b, ref c);
            key = key[12..];
        }

        if (key.Length == 0)
        {
            primary = c;
            secondary = b;
            return;
        }

        // The last 1..12 bytes, zero-padded, are the same little-endian words lookup3's switch adds.
        Span<byte> tail = stackalloc byte[12];
        tail.Clear();
        key.CopyTo(tail);
        a += BinaryPrimitives.ReadUInt32LittleEndian(tail);
        b += BinaryPrimitives.ReadUInt32LittleEndian(tail[4..]);
        c += BinaryPrimitives.ReadUInt32LittleEndian(tail[8..]);
        Final(ref a, ref b, ref c);
        primary = c;
        secondary = b;
    }

    private static void Mix(ref uint a, ref uint b, ref uint c)
    {
        a -= c; a ^= BitOperations.RotateLeft(c, 4); c += b;
        b -= a; b ^= BitOperations.RotateLeft(a, 6); a += c;
        c -= b; c ^= BitOperations.RotateLeft(b, 8); b += a;
        a -= c; a ^= BitOperations.RotateLeft(c, 16); c += b;
        b -= a; b ^= BitOperations.RotateLeft(a, 19); a += c;
        c -= b; c ^= BitOperations.RotateLeft(b, 4); b += a;
    }

    private static void Final(ref uint a, ref uint b, ref uint c)
    {
        c ^= b; c -= BitOperations.RotateLeft(b, 14);
        a ^= c; a -= BitOperations.RotateLeft(c, 11);
        b ^= a; b -= BitOperations.RotateLeft(a, 25);
        c ^= b; c -= BitOperations.RotateLeft(b, 16);
        a ^= c; a -= BitOperations.RotateLeft(c, 4);
        b ^= a; b -= BitOperations.RotateLeft(a, 14);
        c ^= b; c -= BitOperations.RotateLeft(b, 24);
    }
}
