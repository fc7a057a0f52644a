namespace Recs.Services.Engine;

/// <summary>
/// The top neighbours of every item, in compressed sparse row form: item i's are <c>Neighbour[Start[i]..Start[i + 1]]</c>,
/// best first, with their weights (and, where the recipe keeps them, a count each, e.g. customers who bought both).
/// What item-based recipes learn and serve: a user's score is the sum of their items' rows.
/// </summary>
public sealed class ItemNeighbours
{
    private ItemNeighbours(int[] start, int[] neighbour, float[] weight, int[]? count)
    {
        Start = start;
        Neighbour = neighbour;
        Weight = weight;
        Count = count;
    }

    public int[] Start { get; }

    public int[] Neighbour { get; }

    public float[] Weight { get; }

    public int[]? Count { get; }

    public int Items => Start.Length - 1;

    /// <summary>
    /// Compacts per-item top lists written at <c>i × m</c> (<paramref name="found"/>[i] of them each) into CSR form;
    /// items with fewer than m neighbours would otherwise leave gaps.
    /// </summary>
    public static ItemNeighbours Compact(int items, int m, int[] neighbour, float[] weight, int[] found, int[]? count = null)
    {
        var start = new int[items + 1];
        for (var i = 0; i < items; i++)
            start[i + 1] = start[i] + found[i];
        var n = new int[start[items]];
        var w = new float[n.Length];
        var c = count is null ? null : new int[n.Length];
        for (var i = 0; i < items; i++)
        {
            Array.Copy(neighbour, (long)i * m, n, start[i], found[i]);
            Array.Copy(weight, (long)i * m, w, start[i], found[i]);
            if (c is not null)
                Array.Copy(count!, (long)i * m, c, start[i], found[i]);
        }
        return new ItemNeighbours(start, n, w, c);
    }

    /// <summary>The position of j in i's list, or −1.</summary>
    public int Find(int i, int j)
    {
        for (var k = Start[i]; k < Start[i + 1]; k++)
            if (Neighbour[k] == j) return k;
        return -1;
    }

    /// <summary>Adds the rows of the given items (each distinct item once) to <paramref name="scores"/>.</summary>
    public void AddRows(ReadOnlySpan<int> items, Span<float> scores)
    {
        var seen = new HashSet<int>();
        foreach (var i in items)
        {
            if ((uint)i >= (uint)Items || !seen.Add(i))
                continue;
            for (var k = Start[i]; k < Start[i + 1]; k++)
                scores[Neighbour[k]] += Weight[k];
        }
    }

    /// <summary>Item i's neighbours, best first; returns how many were written.</summary>
    public int Copy(int item, Span<int> items, Span<float> scores)
    {
        var start = Start[item];
        var count = Math.Min(items.Length, Start[item + 1] - start);
        Neighbour.AsSpan(start, count).CopyTo(items);
        Weight.AsSpan(start, count).CopyTo(scores);
        return count;
    }

    public void Write(BinaryWriter writer)
    {
        ArrayIo.Write(writer, Start);
        ArrayIo.Write(writer, Neighbour);
        ArrayIo.Write(writer, Weight);
        if (Count is not null)
            ArrayIo.Write(writer, Count);
    }

    public static ItemNeighbours Read(BinaryReader reader, bool withCounts) =>
        new(ArrayIo.ReadInts(reader), ArrayIo.ReadInts(reader), ArrayIo.ReadFloats(reader), withCounts ? ArrayIo.ReadInts(reader) : null);
}
