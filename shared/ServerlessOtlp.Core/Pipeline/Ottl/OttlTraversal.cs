using Google.Protobuf;

namespace ServerlessOtlp.Pipeline.Ottl;

/// <summary>
/// Walks a decoded export request along its signal's <see cref="OttlSignalTree"/>: runs a
/// statement once per item of its context, and prunes items (with the scopes and resources left
/// empty). The three signals share this code; what differs between them is in their trees.
/// Index loops, no LINQ, no enumerators: this is the drain path.
/// </summary>
internal static class OttlTraversal
{
    /// <summary>Runs <paramref name="run"/> on every item of <paramref name="context"/>; stops when it answers false.</summary>
    public static bool ForEach(IMessage request, OttlContextKind context, OttlContext c, Func<OttlContext, bool> run)
    {
        var tree = TreeOf(request);
        return ForEach(tree.Levels, 0, tree.DepthOf(context), request, c, run);
    }

    private static bool ForEach(OttlLevel[] levels, int depth, int target, object parent, OttlContext c, Func<OttlContext, bool> run)
    {
        var level = levels[depth];
        if (level.EntriesOf(parent) is not { } entries)
        {
            return true;
        }

        for (int i = 0; i < entries.Count; i++)
        {
            object entry = entries[i]!;
            c.Enter(level.Kind, level.ContextItem(entry, forWrite: true));
            if (!(depth == target ? run(c) : ForEach(levels, depth + 1, target, entry, c, run)))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Removes every item for which <paramref name="drop"/> answers true at its level (a dropped
    /// resource or scope takes its items along), then the scopes and resources left empty. Only
    /// levels in <paramref name="levels"/> are asked, each from its last entry up. Returns the
    /// number of items (spans, log records, data points) removed.
    /// </summary>
    public static int Prune(IMessage request, OttlContext c, IReadOnlySet<OttlContextKind> levels, Func<OttlContext, OttlContextKind, bool> drop) =>
        new Pruning(TreeOf(request), c, levels, drop).Prune(0, request);

    /// <summary>Spans, log records or data points in the request; 0 for another message.</summary>
    public static int CountItems(IMessage request) => OttlSignalTree.Of(request)?.Items(-1, request) ?? 0;

    private static OttlSignalTree TreeOf(IMessage request) =>
        OttlSignalTree.Of(request) ?? throw new ArgumentException($"not an OTLP export request: {request.GetType().Name}", nameof(request));

    private readonly struct Pruning(OttlSignalTree tree, OttlContext c, IReadOnlySet<OttlContextKind> asked, Func<OttlContext, OttlContextKind, bool> drop)
    {
        private readonly int _deepestAsked = tree.DeepestOf(asked);

        /// <summary>Prunes the entries of level <paramref name="depth"/> under <paramref name="parent"/>; returns the items removed.</summary>
        public int Prune(int depth, object parent)
        {
            var levels = tree.Levels;
            var level = levels[depth];
            if (level.EntriesOf(parent) is not { } entries)
            {
                return 0;
            }

            bool ask = asked.Contains(level.Kind);
            var below = depth + 1 < levels.Length ? levels[depth + 1] : null;

            // Below is walked when something there or deeper may be dropped, or when its empty entries go anyway.
            bool walkBelow = below is not null && (_deepestAsked > depth || below.WhenEmpty == OttlEmptyEntry.Remove);
            bool removeEmpty = below is not null && (level.WhenEmpty == OttlEmptyEntry.Remove || (level.WhenEmpty == OttlEmptyEntry.RemoveWhenPruned && walkBelow));
            int removed = 0;
            for (int i = entries.Count - 1; i >= 0; i--)
            {
                object entry = entries[i]!;
                c.Enter(level.Kind, level.ContextItem(entry, forWrite: false));
                if (ask && drop(c, level.Kind))
                {
                    removed += tree.Items(depth, entry);
                    entries.RemoveAt(i);
                    continue;
                }

                if (walkBelow)
                {
                    removed += Prune(depth + 1, entry);
                }

                if (removeEmpty && (below!.EntriesOf(entry)?.Count ?? 0) == 0)
                {
                    entries.RemoveAt(i);
                }
            }

            return removed;
        }
    }
}
