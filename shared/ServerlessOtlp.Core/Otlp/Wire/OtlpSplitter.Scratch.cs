namespace ServerlessOtlp.Otlp.Wire;

// The per-thread bookkeeping of a split: items, scopes, prefix ranges and partition chains, reused across requests.
public static partial class OtlpSplitter
{
    private sealed class Scratch
    {
        public const int TraceKeyed = -2;
        public const int ResourcePartition = -3;

        public Item[] Items = new Item[256];
        public int ItemCount;
        public ScopeInfo[] Scopes = new ScopeInfo[16];
        public int ScopeCount;
        public (int Start, int Length)[] Ranges = new (int, int)[64];
        public int RangeCount;
        public (int Start, int Length)[] ResourceRanges = new (int, int)[8];
        public int ResourceRangeCount;
        public int[] Heads = new int[64];
        public int TotalItems;
        public (int Scope, int Payload)[] ChunkScopes = new (int, int)[16];
        public int ChunkScopeCount;
        public bool ResourcePartitionNeeded;

        public void Reset()
        {
            ItemCount = 0;
            ScopeCount = 0;
            RangeCount = 0;
            ResourceRangeCount = 0;
            ResourcePartitionNeeded = false;
            // Keep scratch from pinning huge arrays after an unusual request.
            if (Items.Length > 65536)
            {
                Items = new Item[256];
            }
        }

        public void AddItem(in Item item)
        {
            if (ItemCount == Items.Length)
            {
                Array.Resize(ref Items, Items.Length * 2);
            }

            Items[ItemCount++] = item;
        }

        public int AddScope()
        {
            if (ScopeCount == Scopes.Length)
            {
                Array.Resize(ref Scopes, Scopes.Length * 2);
            }

            Scopes[ScopeCount] = default;
            return ScopeCount++;
        }

        public void AddRange(int start, int length)
        {
            if (RangeCount == Ranges.Length)
            {
                Array.Resize(ref Ranges, Ranges.Length * 2);
            }

            Ranges[RangeCount++] = (start, length);
        }

        public void AddResourceRange(int start, int length)
        {
            if (ResourceRangeCount == ResourceRanges.Length)
            {
                Array.Resize(ref ResourceRanges, ResourceRanges.Length * 2);
            }

            ResourceRanges[ResourceRangeCount++] = (start, length);
        }

        public void EnsureHeads(int partitions)
        {
            if (Heads.Length < partitions)
            {
                Heads = new int[partitions];
            }

            Heads.AsSpan(0, partitions).Fill(-1);
        }

        public void AddChunkScope(int scope)
        {
            if (ChunkScopeCount == ChunkScopes.Length)
            {
                Array.Resize(ref ChunkScopes, ChunkScopes.Length * 2);
            }

            ChunkScopes[ChunkScopeCount++] = (scope, 0);
        }

        public void SetChunkScopePayload(int payload)
        {
            if (ChunkScopeCount > 0)
            {
                ChunkScopes[ChunkScopeCount - 1].Payload = payload;
            }
        }

        public struct Item
        {
            public int Scope;
            public int Start;
            public int Length;
            public int Partition;
            public int TraceIdStart;
            public int Count;
            public int Next;
        }

        public struct ScopeInfo
        {
            public int PrefixFirst;
            public int PrefixCount;
            public int PrefixLength;
        }
    }
}
