using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Recs.Services.Engine;

/// <summary>A model that scores by dot products of factors: x̂_ui = x_u·y_i (+ b_i).</summary>
public interface IFactorModel
{
    int Factors { get; }

    float[] UserFactorArray { get; }

    float[] ItemFactorArray { get; }

    float[]? ItemBias { get; }
}

/// <summary>
/// Top-K for many users at once over every item, as a blocked matrix product X·Yᵀ: item factors are packed in
/// panels of 16 items (8 without AVX-512; for each factor, the panel's values side by side), a 6-user × 2-panel
/// register block accumulates with fused multiply-adds, items go by L2-sized blocks, and each user keeps a running
/// top-K (a min-heap): the block's scores are compared with the users' thresholds in vector registers, and only a
/// score that can enter a heap leaves them. No score row is ever stored. Seen items are skipped at heap entry.
/// </summary>
public sealed class FactorScorer
{
    private const int UsersPerBlock = 6;

    // 16 items per panel with 512-bit vectors, 8 with 256-bit; a register block is six users by two panels.
    private static readonly int Panel = Vector512.IsHardwareAccelerated ? 16 : 8;
    private static readonly int BlockWidth = 2 * Panel;
    private const int ItemsPerBlock = 2048; // 2048 items × 64 factors × 4 bytes = 512 KiB of packed factors: L2 (a multiple of every block width)

    private readonly int _f;
    private readonly int _items;
    private readonly float[] _packed;
    private readonly float[] _bias;
    private readonly float[] _users;

    public FactorScorer(IFactorModel model)
        : this(model.UserFactorArray, model.ItemFactorArray, model.Factors, model.ItemBias)
    {
    }

    public FactorScorer(float[] userFactors, float[] itemFactors, int factors, float[]? itemBias = null)
    {
        _f = factors;
        _users = userFactors;
        _items = itemFactors.Length / factors;
        var panels = (_items + Panel - 1) / Panel;
        _packed = new float[panels * Panel * factors];
        _bias = new float[panels * Panel];
        for (var i = 0; i < _items; i++)
        {
            int p = i / Panel, j = i % Panel;
            for (var g = 0; g < factors; g++)
                _packed[(p * factors + g) * Panel + j] = itemFactors[i * factors + g];
            _bias[i] = itemBias?[i] ?? 0f;
        }
    }

    /// <summary>Floating-point operations to score <paramref name="users"/> users against every item (2 per multiply-add).</summary>
    public double Flops(int users) => 2.0 * users * _items * _f;

    /// <summary>
    /// Top-K items for each user in <paramref name="users"/>, best first, leaving out <paramref name="seen"/>(user)
    /// (sorted item indices). Results go to <paramref name="items"/>[n] / <paramref name="scores"/>[n]; returns the counts.
    /// </summary>
    public int[] TopK(ReadOnlySpan<int> users, Func<int, ReadOnlyMemory<int>>? seen, int k, int[][] items, float[][] scores)
    {
        var count = users.Length;
        var heaps = new Heap[count];
        var seenLists = new ReadOnlyMemory<int>[count];
        for (var n = 0; n < count; n++)
        {
            heaps[n] = new Heap(k);
            seenLists[n] = seen?.Invoke(users[n]) ?? ReadOnlyMemory<int>.Empty;
        }
        var block = new float[UsersPerBlock * BlockWidth];
        var lanes = new uint[UsersPerBlock];
        var f = _f;
        // All users' factors side by side, padded to whole register blocks by repeating the last user.
        var padded = (count + UsersPerBlock - 1) / UsersPerBlock * UsersPerBlock;
        var xAll = new float[padded * f];
        for (var n = 0; n < padded; n++)
            Array.Copy(_users, users[Math.Min(n, count - 1)] * f, xAll, n * f, f);
        var thresholds = new float[padded];
        for (var n = 0; n < padded; n++)
            thresholds[n] = n < count ? heaps[n].Threshold : float.PositiveInfinity;

        for (var itemStart = 0; itemStart < _items; itemStart += ItemsPerBlock)
        {
            var itemEnd = Math.Min(_items, itemStart + ItemsPerBlock);
            for (var i0 = itemStart; i0 < itemEnd; i0 += BlockWidth)
            {
                // The two item panels stay in L1 while every user of the slice passes over them.
                for (var n0 = 0; n0 < padded; n0 += UsersPerBlock)
                {
                    var rows = Vector512.IsHardwareAccelerated
                        ? Kernel512(xAll, n0 * f, i0 / Panel, block, thresholds, n0, lanes)
                        : Kernel256(xAll, n0 * f, i0 / Panel, block, thresholds, n0, lanes);
                    for (var r = 0; rows != 0; r++, rows >>= 1)
                    {
                        if ((rows & 1) == 0)
                            continue;
                        ref var heap = ref heaps[n0 + r];
                        // Only the lanes that reached the threshold, lowest item first.
                        for (var m = lanes[r]; m != 0; m &= m - 1)
                        {
                            var j = System.Numerics.BitOperations.TrailingZeroCount(m);
                            var item = i0 + j;
                            if (item >= itemEnd)
                                break;
                            var s = block[r * BlockWidth + j];
                            if (heap.Admits(s, item) && seenLists[n0 + r].Span.BinarySearch(item) < 0)
                                heap.Push(s, item);
                        }
                        thresholds[n0 + r] = heap.Threshold;
                    }
                }
            }
        }
        var counts = new int[count];
        for (var n = 0; n < count; n++)
            counts[n] = heaps[n].Drain(items[n], scores[n]);
        return counts;
    }

    /// <summary>
    /// Scores 6 users × 2 panels; stores a user's row in <paramref name="block"/> only when some score reaches its
    /// threshold, with a bit per such lane in <paramref name="lanes"/>, and returns a bit per such user.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int Kernel512(float[] x, int xOffset, int panel, float[] block, float[] thresholds, int t0, uint[] lanes)
    {
        var f = _f;
        ref var y = ref MemoryMarshal.GetArrayDataReference(_packed);
        ref var xr = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(x), xOffset);
        var second = panel + 1 < _packed.Length / (Panel * f) ? panel + 1 : panel;
        nuint p0 = (nuint)(panel * f * Panel), p1 = (nuint)(second * f * Panel);
        Vector512<float> a00 = default, a01 = default, a10 = default, a11 = default, a20 = default, a21 = default;
        Vector512<float> a30 = default, a31 = default, a40 = default, a41 = default, a50 = default, a51 = default;
        ref var y0r = ref Unsafe.Add(ref y, p0);
        ref var y1r = ref Unsafe.Add(ref y, p1);
        ref var x0r = ref xr;
        ref var x1r = ref Unsafe.Add(ref xr, f);
        ref var x2r = ref Unsafe.Add(ref xr, 2 * f);
        ref var x3r = ref Unsafe.Add(ref xr, 3 * f);
        ref var x4r = ref Unsafe.Add(ref xr, 4 * f);
        ref var x5r = ref Unsafe.Add(ref xr, 5 * f);
        var g = 0;
        // Two factors per turn: half the loop overhead between the twelve multiply-add chains.
        for (; g + 1 < f; g += 2)
        {
            {
                var y0 = Vector512.LoadUnsafe(ref y0r, (nuint)((g) * 16));
                var y1 = Vector512.LoadUnsafe(ref y1r, (nuint)((g) * 16));
                var x0 = Vector512.Create(Unsafe.Add(ref x0r, g));
                a00 = Vector512.FusedMultiplyAdd(x0, y0, a00);
                a01 = Vector512.FusedMultiplyAdd(x0, y1, a01);
                var x1 = Vector512.Create(Unsafe.Add(ref x1r, g));
                a10 = Vector512.FusedMultiplyAdd(x1, y0, a10);
                a11 = Vector512.FusedMultiplyAdd(x1, y1, a11);
                var x2 = Vector512.Create(Unsafe.Add(ref x2r, g));
                a20 = Vector512.FusedMultiplyAdd(x2, y0, a20);
                a21 = Vector512.FusedMultiplyAdd(x2, y1, a21);
                var x3 = Vector512.Create(Unsafe.Add(ref x3r, g));
                a30 = Vector512.FusedMultiplyAdd(x3, y0, a30);
                a31 = Vector512.FusedMultiplyAdd(x3, y1, a31);
                var x4 = Vector512.Create(Unsafe.Add(ref x4r, g));
                a40 = Vector512.FusedMultiplyAdd(x4, y0, a40);
                a41 = Vector512.FusedMultiplyAdd(x4, y1, a41);
                var x5 = Vector512.Create(Unsafe.Add(ref x5r, g));
                a50 = Vector512.FusedMultiplyAdd(x5, y0, a50);
                a51 = Vector512.FusedMultiplyAdd(x5, y1, a51);
            }
            {
                var y0 = Vector512.LoadUnsafe(ref y0r, (nuint)((g + 1) * 16));
                var y1 = Vector512.LoadUnsafe(ref y1r, (nuint)((g + 1) * 16));
                var x0 = Vector512.Create(Unsafe.Add(ref x0r, g + 1));
                a00 = Vector512.FusedMultiplyAdd(x0, y0, a00);
                a01 = Vector512.FusedMultiplyAdd(x0, y1, a01);
                var x1 = Vector512.Create(Unsafe.Add(ref x1r, g + 1));
                a10 = Vector512.FusedMultiplyAdd(x1, y0, a10);
                a11 = Vector512.FusedMultiplyAdd(x1, y1, a11);
                var x2 = Vector512.Create(Unsafe.Add(ref x2r, g + 1));
                a20 = Vector512.FusedMultiplyAdd(x2, y0, a20);
                a21 = Vector512.FusedMultiplyAdd(x2, y1, a21);
                var x3 = Vector512.Create(Unsafe.Add(ref x3r, g + 1));
                a30 = Vector512.FusedMultiplyAdd(x3, y0, a30);
                a31 = Vector512.FusedMultiplyAdd(x3, y1, a31);
                var x4 = Vector512.Create(Unsafe.Add(ref x4r, g + 1));
                a40 = Vector512.FusedMultiplyAdd(x4, y0, a40);
                a41 = Vector512.FusedMultiplyAdd(x4, y1, a41);
                var x5 = Vector512.Create(Unsafe.Add(ref x5r, g + 1));
                a50 = Vector512.FusedMultiplyAdd(x5, y0, a50);
                a51 = Vector512.FusedMultiplyAdd(x5, y1, a51);
            }
        }
        for (; g < f; g++)
        {
            {
                var y0 = Vector512.LoadUnsafe(ref y0r, (nuint)((g) * 16));
                var y1 = Vector512.LoadUnsafe(ref y1r, (nuint)((g) * 16));
                var x0 = Vector512.Create(Unsafe.Add(ref x0r, g));
                a00 = Vector512.FusedMultiplyAdd(x0, y0, a00);
                a01 = Vector512.FusedMultiplyAdd(x0, y1, a01);
                var x1 = Vector512.Create(Unsafe.Add(ref x1r, g));
                a10 = Vector512.FusedMultiplyAdd(x1, y0, a10);
                a11 = Vector512.FusedMultiplyAdd(x1, y1, a11);
                var x2 = Vector512.Create(Unsafe.Add(ref x2r, g));
                a20 = Vector512.FusedMultiplyAdd(x2, y0, a20);
                a21 = Vector512.FusedMultiplyAdd(x2, y1, a21);
                var x3 = Vector512.Create(Unsafe.Add(ref x3r, g));
                a30 = Vector512.FusedMultiplyAdd(x3, y0, a30);
                a31 = Vector512.FusedMultiplyAdd(x3, y1, a31);
                var x4 = Vector512.Create(Unsafe.Add(ref x4r, g));
                a40 = Vector512.FusedMultiplyAdd(x4, y0, a40);
                a41 = Vector512.FusedMultiplyAdd(x4, y1, a41);
                var x5 = Vector512.Create(Unsafe.Add(ref x5r, g));
                a50 = Vector512.FusedMultiplyAdd(x5, y0, a50);
                a51 = Vector512.FusedMultiplyAdd(x5, y1, a51);
            }
        }
        ref var bias = ref MemoryMarshal.GetArrayDataReference(_bias);
        var b0 = Vector512.LoadUnsafe(ref bias, (nuint)(panel * 16));
        var b1 = Vector512.LoadUnsafe(ref bias, (nuint)(second * 16));
        ref var o = ref MemoryMarshal.GetArrayDataReference(block);
        var rows = 0;
        rows |= (lanes[0] = Row512(a00 + b0, a01 + b1, thresholds[t0], ref o, 0)) != 0 ? 1 : 0;
        rows |= (lanes[1] = Row512(a10 + b0, a11 + b1, thresholds[t0 + 1], ref o, 32)) != 0 ? 2 : 0;
        rows |= (lanes[2] = Row512(a20 + b0, a21 + b1, thresholds[t0 + 2], ref o, 64)) != 0 ? 4 : 0;
        rows |= (lanes[3] = Row512(a30 + b0, a31 + b1, thresholds[t0 + 3], ref o, 96)) != 0 ? 8 : 0;
        rows |= (lanes[4] = Row512(a40 + b0, a41 + b1, thresholds[t0 + 4], ref o, 128)) != 0 ? 16 : 0;
        rows |= (lanes[5] = Row512(a50 + b0, a51 + b1, thresholds[t0 + 5], ref o, 160)) != 0 ? 32 : 0;
        return rows;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Row512(Vector512<float> left, Vector512<float> right, float threshold, ref float o, nuint at)
    {
        var t = Vector512.Create(threshold);
        var mask = (uint)Vector512.GreaterThanOrEqual(left, t).ExtractMostSignificantBits()
            | ((uint)Vector512.GreaterThanOrEqual(right, t).ExtractMostSignificantBits() << 16);
        if (mask == 0)
            return 0;
        left.StoreUnsafe(ref o, at);
        right.StoreUnsafe(ref o, at + 16);
        return mask;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int Kernel256(float[] x, int xOffset, int panel, float[] block, float[] thresholds, int t0, uint[] lanes)
    {
        var f = _f;
        ref var y = ref MemoryMarshal.GetArrayDataReference(_packed);
        ref var xr = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(x), xOffset);
        var second = panel + 1 < _packed.Length / (Panel * f) ? panel + 1 : panel;
        nuint p0 = (nuint)(panel * f * Panel), p1 = (nuint)(second * f * Panel);
        Vector256<float> a00 = default, a01 = default, a10 = default, a11 = default, a20 = default, a21 = default;
        Vector256<float> a30 = default, a31 = default, a40 = default, a41 = default, a50 = default, a51 = default;
        for (var g = 0; g < f; g++)
        {
            var y0 = Vector256.LoadUnsafe(ref y, p0 + (nuint)(g * 8));
            var y1 = Vector256.LoadUnsafe(ref y, p1 + (nuint)(g * 8));
            var x0 = Vector256.Create(Unsafe.Add(ref xr, g));
            a00 = Vector256.FusedMultiplyAdd(x0, y0, a00);
            a01 = Vector256.FusedMultiplyAdd(x0, y1, a01);
            var x1 = Vector256.Create(Unsafe.Add(ref xr, f + g));
            a10 = Vector256.FusedMultiplyAdd(x1, y0, a10);
            a11 = Vector256.FusedMultiplyAdd(x1, y1, a11);
            var x2 = Vector256.Create(Unsafe.Add(ref xr, 2 * f + g));
            a20 = Vector256.FusedMultiplyAdd(x2, y0, a20);
            a21 = Vector256.FusedMultiplyAdd(x2, y1, a21);
            var x3 = Vector256.Create(Unsafe.Add(ref xr, 3 * f + g));
            a30 = Vector256.FusedMultiplyAdd(x3, y0, a30);
            a31 = Vector256.FusedMultiplyAdd(x3, y1, a31);
            var x4 = Vector256.Create(Unsafe.Add(ref xr, 4 * f + g));
            a40 = Vector256.FusedMultiplyAdd(x4, y0, a40);
            a41 = Vector256.FusedMultiplyAdd(x4, y1, a41);
            var x5 = Vector256.Create(Unsafe.Add(ref xr, 5 * f + g));
            a50 = Vector256.FusedMultiplyAdd(x5, y0, a50);
            a51 = Vector256.FusedMultiplyAdd(x5, y1, a51);
        }
        ref var bias = ref MemoryMarshal.GetArrayDataReference(_bias);
        var b0 = Vector256.LoadUnsafe(ref bias, (nuint)(panel * 8));
        var b1 = Vector256.LoadUnsafe(ref bias, (nuint)(second * 8));
        ref var o = ref MemoryMarshal.GetArrayDataReference(block);
        var rows = 0;
        rows |= (lanes[0] = Row256(a00 + b0, a01 + b1, thresholds[t0], ref o, 0)) != 0 ? 1 : 0;
        rows |= (lanes[1] = Row256(a10 + b0, a11 + b1, thresholds[t0 + 1], ref o, 16)) != 0 ? 2 : 0;
        rows |= (lanes[2] = Row256(a20 + b0, a21 + b1, thresholds[t0 + 2], ref o, 32)) != 0 ? 4 : 0;
        rows |= (lanes[3] = Row256(a30 + b0, a31 + b1, thresholds[t0 + 3], ref o, 48)) != 0 ? 8 : 0;
        rows |= (lanes[4] = Row256(a40 + b0, a41 + b1, thresholds[t0 + 4], ref o, 64)) != 0 ? 16 : 0;
        rows |= (lanes[5] = Row256(a50 + b0, a51 + b1, thresholds[t0 + 5], ref o, 80)) != 0 ? 32 : 0;
        return rows;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Row256(Vector256<float> left, Vector256<float> right, float threshold, ref float o, nuint at)
    {
        var t = Vector256.Create(threshold);
        var mask = (uint)Vector256.GreaterThanOrEqual(left, t).ExtractMostSignificantBits()
            | ((uint)Vector256.GreaterThanOrEqual(right, t).ExtractMostSignificantBits() << 8);
        if (mask == 0)
            return 0;
        left.StoreUnsafe(ref o, at);
        right.StoreUnsafe(ref o, at + 8);
        return mask;
    }

    /// <summary>A min-heap of the best k (score, item) pairs; ties favour the lower item index.</summary>
    private struct Heap(int k)
    {
        private readonly float[] _scores = new float[k];
        private readonly int[] _items = new int[k];
        private int _size;

        /// <summary>Scores below this cannot enter (−∞ until the heap is full).</summary>
        public readonly float Threshold => _size < k ? float.NegativeInfinity : _scores[0];

        public readonly bool Admits(float score, int item) =>
            k > 0 && (_size < k || score > _scores[0] || (score == _scores[0] && item < _items[0]));

        public void Push(float score, int item)
        {
            if (_size < k)
            {
                _scores[_size] = score;
                _items[_size] = item;
                Up(_size++);
            }
            else
            {
                _scores[0] = score;
                _items[0] = item;
                Down(0, _size);
            }
        }

        public int Drain(int[] items, float[] scores)
        {
            var n = _size;
            for (var end = n - 1; end > 0; end--)
            {
                Swap(0, end);
                Down(0, end);
            }
            Array.Copy(_items, items, n);
            Array.Copy(_scores, scores, n);
            return n;
        }

        private readonly bool Weaker(int a, int b) => _scores[a] < _scores[b] || (_scores[a] == _scores[b] && _items[a] > _items[b]);

        private readonly void Swap(int a, int b)
        {
            (_scores[a], _scores[b]) = (_scores[b], _scores[a]);
            (_items[a], _items[b]) = (_items[b], _items[a]);
        }

        private readonly void Up(int i)
        {
            while (i > 0 && Weaker(i, (i - 1) / 2))
            {
                Swap(i, (i - 1) / 2);
                i = (i - 1) / 2;
            }
        }

        private readonly void Down(int i, int size)
        {
            while (true)
            {
                int l = 2 * i + 1, w = i;
                if (l < size && Weaker(l, w)) w = l;
                if (l + 1 < size && Weaker(l + 1, w)) w = l + 1;
                if (w == i)
                    return;
                Swap(i, w);
                i = w;
            }
        }
    }
}
