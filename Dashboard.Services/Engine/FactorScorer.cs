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
/// panels of 8 items (for each factor, 8 consecutive floats), a 4-user × 16-item register block accumulates with
/// 256-bit fused multiply-adds, items go by L2-sized blocks, and each user keeps a running top-K (a min-heap with a
/// threshold), so no score row is ever stored. Seen items are skipped when they would enter the heap.
/// </summary>
public sealed class FactorScorer
{
    private const int Panel = 8;
    private const int UsersPerBlock = 4;
    private const int ItemsPerBlock = 2048; // 2048 items × 64 factors × 4 bytes = 512 KiB of packed factors: L2

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
        var block = new float[UsersPerBlock * 16];
        var f = _f;
        var xBlock = new float[UsersPerBlock * f];

        for (var itemStart = 0; itemStart < _items; itemStart += ItemsPerBlock)
        {
            var itemEnd = Math.Min(_items, itemStart + ItemsPerBlock);
            for (var n0 = 0; n0 < count; n0 += UsersPerBlock)
            {
                // Copy up to four users' factors side by side (repeating the last to fill the block).
                for (var r = 0; r < UsersPerBlock; r++)
                    Array.Copy(_users, users[Math.Min(n0 + r, count - 1)] * f, xBlock, r * f, f);
                for (var i0 = itemStart; i0 < itemEnd; i0 += 16)
                {
                    Kernel(xBlock, i0 / Panel, block);
                    for (var r = 0; r < UsersPerBlock && n0 + r < count; r++)
                    {
                        ref var heap = ref heaps[n0 + r];
                        for (var j = 0; j < 16; j++)
                        {
                            var item = i0 + j;
                            if (item >= itemEnd)
                                break;
                            var s = block[r * 16 + j];
                            if (heap.Admits(s, item) && seenLists[n0 + r].Span.BinarySearch(item) < 0)
                                heap.Push(s, item);
                        }
                    }
                }
            }
        }
        var counts = new int[count];
        for (var n = 0; n < count; n++)
            counts[n] = heaps[n].Drain(items[n], scores[n]);
        return counts;
    }

    /// <summary>block[r·16 + j] = x_r · y_(8·panel + j) + b for 4 users r and 16 items (two panels).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Kernel(float[] x, int panel, float[] block)
    {
        var f = _f;
        ref var y = ref MemoryMarshal.GetArrayDataReference(_packed);
        ref var xr = ref MemoryMarshal.GetArrayDataReference(x);
        var second = panel + 1 < _packed.Length / (Panel * f) ? panel + 1 : panel;
        nuint p0 = (nuint)(panel * f * Panel), p1 = (nuint)(second * f * Panel);
        Vector256<float> a00 = default, a01 = default, a10 = default, a11 = default, a20 = default, a21 = default, a30 = default, a31 = default;
        for (var g = 0; g < f; g++)
        {
            var y0 = Vector256.LoadUnsafe(ref y, p0 + (nuint)(g * Panel));
            var y1 = Vector256.LoadUnsafe(ref y, p1 + (nuint)(g * Panel));
            var x0 = Vector256.Create(Unsafe.Add(ref xr, g));
            var x1 = Vector256.Create(Unsafe.Add(ref xr, f + g));
            var x2 = Vector256.Create(Unsafe.Add(ref xr, 2 * f + g));
            var x3 = Vector256.Create(Unsafe.Add(ref xr, 3 * f + g));
            a00 = Vector256.FusedMultiplyAdd(x0, y0, a00);
            a01 = Vector256.FusedMultiplyAdd(x0, y1, a01);
            a10 = Vector256.FusedMultiplyAdd(x1, y0, a10);
            a11 = Vector256.FusedMultiplyAdd(x1, y1, a11);
            a20 = Vector256.FusedMultiplyAdd(x2, y0, a20);
            a21 = Vector256.FusedMultiplyAdd(x2, y1, a21);
            a30 = Vector256.FusedMultiplyAdd(x3, y0, a30);
            a31 = Vector256.FusedMultiplyAdd(x3, y1, a31);
        }
        var b0 = Vector256.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(_bias), (nuint)(panel * Panel));
        var b1 = Vector256.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(_bias), (nuint)(second * Panel));
        ref var o = ref MemoryMarshal.GetArrayDataReference(block);
        (a00 + b0).StoreUnsafe(ref o, 0);
        (a01 + b1).StoreUnsafe(ref o, 8);
        (a10 + b0).StoreUnsafe(ref o, 16);
        (a11 + b1).StoreUnsafe(ref o, 24);
        (a20 + b0).StoreUnsafe(ref o, 32);
        (a21 + b1).StoreUnsafe(ref o, 40);
        (a30 + b0).StoreUnsafe(ref o, 48);
        (a31 + b1).StoreUnsafe(ref o, 56);
    }

    /// <summary>A min-heap of the best k (score, item) pairs; ties favour the lower item index.</summary>
    private struct Heap(int k)
    {
        private readonly float[] _scores = new float[k];
        private readonly int[] _items = new int[k];
        private int _size;

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
