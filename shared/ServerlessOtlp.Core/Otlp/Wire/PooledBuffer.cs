using System.Buffers;

namespace ServerlessOtlp.Otlp.Wire;

/// <summary>A growable byte buffer rented from the shared pool; return it with <see cref="Dispose"/>.</summary>
public sealed class PooledBuffer : IDisposable
{
    private byte[] _array;
    private int _length;
    private readonly int _maxCapacity;

    /// <param name="maxCapacity">Never grows past this many bytes (it throws instead), so a caller can bound the memory it asks for.</param>
    public PooledBuffer(int initialCapacity = 4096, int maxCapacity = int.MaxValue)
    {
        _maxCapacity = maxCapacity;
        _array = ArrayPool<byte>.Shared.Rent(Math.Clamp(initialCapacity, 256, Math.Max(256, maxCapacity)));
    }

    public int Length => _length;

    /// <summary>Bytes held (the rented array), which is what the buffer costs in memory.</summary>
    public int Capacity => _array.Length;

    public ReadOnlySpan<byte> WrittenSpan => _array.AsSpan(0, _length);

    public ReadOnlyMemory<byte> WrittenMemory => _array.AsMemory(0, _length);

    /// <summary>Returns a span of at least <paramref name="size"/> bytes at the end of the written data.</summary>
    public Span<byte> GetSpan(int size)
    {
        if (_array.Length - _length < size)
        {
            Grow(size);
        }

        return _array.AsSpan(_length);
    }

    public void Advance(int count) => _length += count;

    public void Write(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(GetSpan(bytes.Length));
        _length += bytes.Length;
    }

    public void Clear() => _length = 0;

    /// <summary>The whole written region, writable (for back-patching lengths).</summary>
    internal Span<byte> RawSpan => _array.AsSpan(0, _length);

    /// <summary>Drops everything written after <paramref name="length"/>.</summary>
    internal void Truncate(int length)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, _length);
        _length = length;
    }

    private void Grow(int size)
    {
        long needed = (long)_length + size;
        if (needed > _maxCapacity)
        {
            throw new InvalidOperationException($"buffer limited to {_maxCapacity} bytes");
        }

        int newSize = (int)Math.Min(Math.Min(Array.MaxLength, _maxCapacity), Math.Max((long)_array.Length * 2, needed));
        var bigger = ArrayPool<byte>.Shared.Rent(newSize);
        _array.AsSpan(0, _length).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(_array);
        _array = bigger;
    }

    public void Dispose()
    {
        var a = _array;
        _array = [];
        _length = 0;
        if (a.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(a);
        }
    }
}
