using System.Buffers;

namespace ServerlessOtlp.Otlp.Json;

/// <summary>A growable <see cref="IBufferWriter{T}"/> over an array rented from the shared pool.</summary>
internal sealed class PooledUtf8Writer : IBufferWriter<byte>, IDisposable
{
    private byte[] _array;
    private int _length;

    public PooledUtf8Writer(int initialCapacity)
    {
        _array = ArrayPool<byte>.Shared.Rent(Math.Clamp(initialCapacity, 256, Array.MaxLength));
    }

    public ReadOnlySpan<byte> WrittenSpan => _array.AsSpan(0, _length);

    /// <summary>A read-only stream over the written bytes; valid until the writer is disposed or written to.</summary>
    public MemoryStream AsStream() => new(_array, 0, _length, writable: false);

    public void Advance(int count) => _length += count;

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _array.AsMemory(_length);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _array.AsSpan(_length);
    }

    public void Dispose()
    {
        byte[] array = _array;
        _array = [];
        _length = 0;
        if (array.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(array);
        }
    }

    private void Ensure(int sizeHint)
    {
        int size = Math.Max(sizeHint, 1);
        if (_array.Length - _length >= size)
        {
            return;
        }

        int newSize = (int)Math.Min(Array.MaxLength, Math.Max((long)_array.Length * 2, (long)_length + size));
        byte[] bigger = ArrayPool<byte>.Shared.Rent(newSize);
        _array.AsSpan(0, _length).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(_array);
        _array = bigger;
    }
}
