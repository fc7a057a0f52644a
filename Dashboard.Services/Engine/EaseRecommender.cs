using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace Recs.Services.Engine;

/// <summary>
/// ease: Embarrassingly Shallow Autoencoder (Steck 2019). With X the binarised user × item matrix,
/// G = XᵀX, P = (G + λI)⁻¹ and B = I − P·diag(1/diag P), i.e. B_ij = −P_ij / P_jj and B_jj = 0: the closed-form
/// item × item regression that predicts each item from all the others. A user's score for j is Σ_{i ∈ u} B_ij.
/// G is binarised because repeat counts measured worse than one per pair on Online Retail (temporal split, NDCG@10:
/// 0.1017 binarised; 0.0923 with ln(1 + count), 0.0896 at λ = 1000; 0.0866 with raw counts, 0.0785 at λ = 5000).
/// The inverse is computed in double precision by a blocked, in-place Gauss–Jordan sweep (symmetric, lower
/// triangle only, SIMD and parallel); B is kept in single precision. Dense: items² doubles while fitting and
/// items² floats to serve, so catalogues above <c>max-items</c> are refused.
/// </summary>
public sealed class EaseRecommender : Recommender, IHistoryScorer
{
    public const string Name = "ease";

    /// <summary>Catalogues above this many items are refused by default (the dense matrices grow with items²).</summary>
    public const int DefaultMaxItems = 20_000;

    /// <summary>ease in the catalogue.</summary>
    public static readonly RecipeDescriptor Descriptor = new(Name,
        "Closed-form item-item regression (EASE, Steck 2019): a strong linear model for baskets; dense, so for catalogues up to max-items.",
        [
            new("lambda", 500, 1e-3, 1e7, Help: "L2 penalty on the item-item weights (larger = closer to popularity)") { Search = (10, 20_000), LogScale = true },
            new("max-items", DefaultMaxItems, 1, 46_000, Integer: true, Help: "refuse catalogues above this many items (memory grows with items²)"),
            new("half-life-days", 0, 0, 36_500, Help: "0 = a user's items count alike; else an item's weight halves every this many days"),
            new("dropout", 0, 0, 0.95, Help: "0 = plain EASE; else the denoising variant's drop probability (penalises popular items more)"),
            new("trend", 0, 0, 100, Help: "0 = none; else weight of each item's recent popularity added to its score") { Search = (0.01, 1), LogScale = true },
            new("trend-half-life-days", 14, 0.5, 3650, Help: "how fast 'recent' fades for the trend") { Search = (3, 90), LogScale = true },
        ],
        v => new EaseRecommender(v.Float("lambda"), v.Int("max-items"), v.Double("half-life-days"), v.Double("dropout"), v.Double("trend"), v.Double("trend-half-life-days")))
    {
        CanFoldIn = true,
        Refuses = shape => shape.Items > DefaultMaxItems
            ? $"{shape.Items:N0} items is above ease's default limit of {DefaultMaxItems:N0} (it would need about {MemoryMegabytes(shape.Items):N0} MB)"
            : null,
    };

    /// <summary>Memory the fit needs for n items: the double Gram/inverse matrix plus the float weights.</summary>
    public static long MemoryMegabytes(int items) => (long)items * items * 12 / 1_048_576;

    private readonly float _lambda;
    private readonly int _maxItems;
    private float[] _b = [];
    private CsrMatrix? _userItems;

    /// <param name="lambda">L2 penalty λ added to G's diagonal (Steck used 200–1000 on ML-20M, Netflix and MSD).</param>
    /// <param name="maxItems">Refuse to fit above this many items: the dense matrices grow with items².</param>
    /// <param name="halfLifeDays">
    /// 0: every item a user has counts alike when scoring. Otherwise each counts 0.5^(age / half-life) (age from the
    /// data's latest interaction; repeats add up to at most 1), so recent purchases say more about what comes next.
    /// The item-item weights B are learnt from the plain binary matrix either way.
    /// </param>
    /// <param name="dropout">
    /// 0: plain EASE. Otherwise the emphasized denoising variant (EDLAE, Steck 2020): training as if each input item
    /// were dropped with this probability adds p/(1−p)·G_ii to the diagonal, a penalty that grows with the item's
    /// popularity, so popular items explain each other less and the weights lean towards specific pairs.
    /// </param>
    /// <param name="trend">
    /// 0: none. Otherwise each item's score gains this much times its recent popularity (interactions weighted
    /// 0.5^(age / trend half-life), scaled so the most recently popular item has 1): what is selling now, which a
    /// model of which items go together cannot know. Chosen on validation data like every other hyperparameter.
    /// </param>
    /// <param name="trendHalfLifeDays">How fast "recent" fades for <paramref name="trend"/>.</param>
    public EaseRecommender(float lambda = 500f, int maxItems = 20_000, double halfLifeDays = 0, double dropout = 0, double trend = 0, double trendHalfLifeDays = 14)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(trend);
        _trendWeight = trend;
        _trendHalfLifeDays = trendHalfLifeDays;
        ArgumentOutOfRangeException.ThrowIfNegative(dropout);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(dropout, 1);
        _halfLifeDays = halfLifeDays;
        _dropout = dropout;
        if (!(lambda > 0) || !float.IsFinite(lambda))
            throw new ArgumentOutOfRangeException(nameof(lambda), lambda, "lambda must be a positive number.");
        ArgumentOutOfRangeException.ThrowIfLessThan(maxItems, 1);
        _lambda = lambda;
        _maxItems = maxItems;
    }

    public override string Recipe => Name;

    public override IReadOnlyDictionary<string, object> Hyperparameters =>
        new Dictionary<string, object> { ["lambda"] = _lambda, ["max_items"] = _maxItems, ["half_life_days"] = _halfLifeDays, ["dropout"] = _dropout,
            ["trend"] = _trendWeight, ["trend_half_life_days"] = _trendHalfLifeDays };

    private readonly double _halfLifeDays;
    private readonly double _dropout;
    private readonly double _trendWeight;
    private readonly double _trendHalfLifeDays;
    private float[]? _trend;

    /// <summary>
    /// With a half-life, the weights decay with age (see the constructor). With a trend, it also reads the items'
    /// recent popularity from the interactions' times, which <see cref="Fit"/> then keeps (Prepare comes before Fit).
    /// </summary>
    public override InteractionSet Prepare(InteractionSet interactions)
    {
        _trend = _trendWeight > 0 ? TrendPrior.Compute(interactions, _trendHalfLifeDays, (float)_trendWeight) : null;
        return interactions.Decayed(_halfLifeDays);
    }

    /// <summary>B, row-major (items × items): row i holds what having item i adds to every item's score.</summary>
    public ReadOnlySpan<float> Weights => _b;

    public override void Fit(CsrMatrix userItems, FitOptions options)
    {
        var n = userItems.Columns;
        if (n > _maxItems)
            throw new ArgumentException(
                $"ease keeps dense items × items matrices and this catalogue has {n:N0} items, above max-items = {_maxItems:N0}: " +
                $"fitting would need {n:N0}² × 8 bytes = {Bytes(n, 8)} for G in double precision and then {n:N0}² × 4 bytes = " +
                $"{Bytes(n, 4)} for B, which is also what serving keeps. Raise max-items if the machine has the memory, or use rp3beta or similar-items.",
                nameof(userItems));
        Users = userItems.Rows;
        Items = n;
        var binary = userItems.WithValues(_ => 1f);
        _userItems = _halfLifeDays > 0 ? userItems.WithValues(w => Math.Clamp(w, 0f, 1f)) : binary;
        var itemUsers = binary.Transpose();

        // G + λI, lower triangle: row i collects, over the users of i, their items j ≤ i (columns come ascending).
        var a = new double[(long)n * n];
        Parallel.For(0, n, new ParallelOptions { CancellationToken = options.Cancellation }, i =>
        {
            var row = a.AsSpan(i * n, n);
            var users = itemUsers.RowColumns(i);
            var wi = itemUsers.RowValues(i);
            for (var k = 0; k < users.Length; k++)
            {
                var cols = binary.RowColumns(users[k]);
                var vals = binary.RowValues(users[k]);
                for (var t = 0; t < cols.Length && cols[t] <= i; t++)
                    row[cols[t]] += (double)wi[k] * vals[t];
            }
            row[i] += _lambda + _dropout / (1 - _dropout) * row[i];
        });

        InvertInPlace(a, n, options);

        // a now holds −P in its lower triangle: mirror it (in tiles, for the cache), then B_ij = −P_ij / P_jj = −a_ij / a_jj.
        const int tile = 64;
        Parallel.For(0, (n + tile - 1) / tile, new ParallelOptions { CancellationToken = options.Cancellation }, ti =>
        {
            var i1 = Math.Min(n, (ti + 1) * tile);
            for (var j0 = 0; j0 < i1; j0 += tile)
            {
                for (var i = ti * tile; i < i1; i++)
                {
                    for (var j = j0; j < Math.Min(i, j0 + tile); j++)
                        a[(long)j * n + i] = a[(long)i * n + j];
                }
            }
        });
        var scale = new double[n];
        for (var j = 0; j < n; j++)
            scale[j] = -1 / a[(long)j * n + j];
        var b = new float[(long)n * n];
        Parallel.For(0, n, new ParallelOptions { CancellationToken = options.Cancellation }, i =>
        {
            var from = a.AsSpan(i * n, n);
            var to = b.AsSpan(i * n, n);
            for (var j = 0; j < n; j++)
                to[j] = (float)(from[j] * scale[j]);
            to[i] = 0;
        });
        _b = b;
    }

    private static string Bytes(long items, int bytesEach)
    {
        var bytes = (double)items * items * bytesEach;
        return bytes switch
        {
            >= 1e9 => $"{bytes / 1e9:0.0} GB",
            >= 1e6 => $"{bytes / 1e6:0.0} MB",
            _ => $"{bytes / 1e3:0.0} KB",
        };
    }

    private const int Block = 64;

    /// <summary>
    /// Replaces the lower triangle of a symmetric positive-definite n × n matrix (row-major) with that of −A⁻¹ by
    /// sweeping (Goodnight 1979) a block of pivots K at a time: with D = A_KK⁻¹, every other entry takes
    /// A_ij − A_iK D A_Kj (a rank-64 update, the n³ part), A_iK becomes A_iK D and A_KK becomes −D. Pivots stay
    /// positive because each pivot block is a Schur complement of a positive-definite matrix. The upper triangle
    /// is scratch. Deterministic: every entry is updated by one thread in a fixed order.
    /// </summary>
    public static void InvertInPlace(double[] a, int n, FitOptions? options = null)
    {
        var cancellation = options?.Cancellation ?? default;
        var panel = new double[(long)Block * n]; // Ct: row m is column k0 + m of A
        var u = new double[(long)n * Block];     // −A_iK D, row-major n × nb
        var d = new double[Block * Block];
        var blocks = (n + Block - 1) / Block;
        for (var step = 0; step < blocks; step++)
        {
            cancellation.ThrowIfCancellationRequested();
            var k0 = step * Block;
            var nb = Math.Min(Block, n - k0);

            for (var j = 0; j < n; j++)
            {
                for (var m = 0; m < nb; m++)
                {
                    var km = k0 + m;
                    panel[(long)m * n + j] = j >= km ? a[(long)j * n + km] : a[(long)km * n + j];
                }
            }

            // D = A_KK⁻¹ by a scalar sweep of the small block (which leaves −D).
            for (var m = 0; m < nb; m++)
                for (var q = 0; q < nb; q++)
                    d[m * nb + q] = panel[(long)m * n + k0 + q];
            SweepSmall(d, nb);
            for (var k = 0; k < nb * nb; k++)
                d[k] = -d[k];

            // −U = −C D, with C_i = the panel's column i.
            Parallel.For(0, n, new ParallelOptions { CancellationToken = cancellation }, i =>
            {
                var ui = u.AsSpan(i * Block, nb);
                ui.Clear();
                for (var m = 0; m < nb; m++)
                    TensorPrimitives.MultiplyAdd(d.AsSpan(m * nb, nb), -panel[(long)m * n + i], ui, ui);
            });

            // A_ij += (−U_i) · C_j for the lower triangle, in row blocks (parallel) and column tiles that stay in cache.
            var rowBlocks = (n + RowBlock - 1) / RowBlock;
            Parallel.For(0, rowBlocks, new ParallelOptions { CancellationToken = cancellation }, rb =>
            {
                var r0 = rb * RowBlock;
                var r1 = Math.Min(n, r0 + RowBlock);
                for (var j0 = 0; j0 < r1; j0 += ColumnTile)
                    UpdateTile(a, panel, u, n, nb, r0, r1, j0, Math.Min(r1, j0 + ColumnTile));
            });

            // Row and column K: A_iK ← A_iK D = U_i, A_KK ← −D.
            for (var i = 0; i < n; i++)
            {
                var inK = i >= k0 && i < k0 + nb;
                for (var m = 0; m < nb; m++)
                {
                    var km = k0 + m;
                    double value;
                    if (inK)
                    {
                        if (i < km)
                            continue;
                        value = -d[(i - k0) * nb + m];
                    }
                    else
                    {
                        value = -u[(long)i * Block + m];
                    }
                    if (i >= km)
                        a[(long)i * n + km] = value;
                    else
                        a[(long)km * n + i] = value;
                }
            }
            options?.Progress?.Report(new EpochRecord(0, (step + 1) / (double)blocks, null, null, 0));
        }
    }

    private const int RowBlock = 32;
    private const int ColumnTile = 256;

    /// <summary>a[i, j] += Σ_m negU[i, m] · panel[m, j] for rows r0..r1 and columns j0..j1, four rows at a time.</summary>
    private static void UpdateTile(double[] a, double[] panel, double[] negU, int n, int nb, int r0, int r1, int j0, int j1)
    {
        var w = Vector<double>.Count;
        ref var a0 = ref MemoryMarshal.GetArrayDataReference(a);
        ref var p0 = ref MemoryMarshal.GetArrayDataReference(panel);
        var i = r0;
        for (; i + 4 <= r1; i += 4)
        {
            var ra = (nuint)((long)i * n);
            var rn = (nuint)n;
            var ub = i * Block;
            var j = j0;
            for (; j + 2 * w <= j1; j += 2 * w)
            {
                var o = (nuint)j;
                var c00 = Vector.LoadUnsafe(ref a0, ra + o);
                var c01 = Vector.LoadUnsafe(ref a0, ra + o + (nuint)w);
                var c10 = Vector.LoadUnsafe(ref a0, ra + rn + o);
                var c11 = Vector.LoadUnsafe(ref a0, ra + rn + o + (nuint)w);
                var c20 = Vector.LoadUnsafe(ref a0, ra + 2 * rn + o);
                var c21 = Vector.LoadUnsafe(ref a0, ra + 2 * rn + o + (nuint)w);
                var c30 = Vector.LoadUnsafe(ref a0, ra + 3 * rn + o);
                var c31 = Vector.LoadUnsafe(ref a0, ra + 3 * rn + o + (nuint)w);
                for (var m = 0; m < nb; m++)
                {
                    var po = (nuint)((long)m * n) + o;
                    var p = Vector.LoadUnsafe(ref p0, po);
                    var q = Vector.LoadUnsafe(ref p0, po + (nuint)w);
                    var u0 = new Vector<double>(negU[ub + m]);
                    var u1 = new Vector<double>(negU[ub + Block + m]);
                    var u2 = new Vector<double>(negU[ub + 2 * Block + m]);
                    var u3 = new Vector<double>(negU[ub + 3 * Block + m]);
                    c00 = Vector.FusedMultiplyAdd(u0, p, c00);
                    c01 = Vector.FusedMultiplyAdd(u0, q, c01);
                    c10 = Vector.FusedMultiplyAdd(u1, p, c10);
                    c11 = Vector.FusedMultiplyAdd(u1, q, c11);
                    c20 = Vector.FusedMultiplyAdd(u2, p, c20);
                    c21 = Vector.FusedMultiplyAdd(u2, q, c21);
                    c30 = Vector.FusedMultiplyAdd(u3, p, c30);
                    c31 = Vector.FusedMultiplyAdd(u3, q, c31);
                }
                c00.StoreUnsafe(ref a0, ra + o);
                c01.StoreUnsafe(ref a0, ra + o + (nuint)w);
                c10.StoreUnsafe(ref a0, ra + rn + o);
                c11.StoreUnsafe(ref a0, ra + rn + o + (nuint)w);
                c20.StoreUnsafe(ref a0, ra + 2 * rn + o);
                c21.StoreUnsafe(ref a0, ra + 2 * rn + o + (nuint)w);
                c30.StoreUnsafe(ref a0, ra + 3 * rn + o);
                c31.StoreUnsafe(ref a0, ra + 3 * rn + o + (nuint)w);
            }
            for (var r = i; r < i + 4; r++)
                UpdateScalar(a, panel, negU, n, nb, r, j, j1);
        }
        for (; i < r1; i++)
            UpdateScalar(a, panel, negU, n, nb, i, j0, j1);
    }

    private static void UpdateScalar(double[] a, double[] panel, double[] negU, int n, int nb, int i, int j0, int j1)
    {
        for (var j = j0; j < j1; j++)
        {
            var s = a[(long)i * n + j];
            for (var m = 0; m < nb; m++)
                s = Math.FusedMultiplyAdd(negU[i * Block + m], panel[(long)m * n + j], s);
            a[(long)i * n + j] = s;
        }
    }

    /// <summary>Sweeps a small symmetric positive-definite matrix (row-major, full) on every pivot, leaving −A⁻¹.</summary>
    private static void SweepSmall(double[] s, int n)
    {
        for (var p = 0; p < n; p++)
        {
            var pivot = s[p * n + p];
            if (!(pivot > 0))
                throw new InvalidOperationException("G + λI is not positive definite (a pivot was not positive); raise lambda.");
            for (var i = 0; i < n; i++)
            {
                if (i == p)
                    continue;
                var f = s[i * n + p] / pivot;
                for (var j = 0; j < n; j++)
                {
                    if (j != p)
                        s[i * n + j] -= f * s[p * n + j];
                }
            }
            for (var i = 0; i < n; i++)
            {
                if (i == p)
                    continue;
                s[i * n + p] /= pivot;
                s[p * n + i] /= pivot;
            }
            s[p * n + p] = -1 / pivot;
        }
    }

    /// <summary>Σ over the user's items i of row i of B (each item once, as in the fit).</summary>
    public override void Score(int user, Span<float> scores)
    {
        scores.Clear();
        if (_userItems is null || user >= _userItems.Rows)
            return;
        var items = _userItems.RowColumns(user);
        var weights = _userItems.RowValues(user);
        for (var k = 0; k < items.Length; k++)
            TensorPrimitives.MultiplyAdd(_b.AsSpan(items[k] * Items, Items), weights[k], scores, scores);
        if (_trend is not null)
            TensorPrimitives.Add(scores, _trend, scores);
    }

    /// <summary>Σ over the history's distinct items of their rows of B (the model sees each item once, as its binarised training matrix did).</summary>
    public void ScoreHistory(ReadOnlySpan<int> items, ReadOnlySpan<float> weights, Span<float> scores)
    {
        scores.Clear();
        var seen = new HashSet<int>();
        foreach (var i in items)
        {
            if ((uint)i < (uint)Items && seen.Add(i))
                TensorPrimitives.Add(_b.AsSpan(i * Items, Items), scores, scores);
        }
        if (_trend is not null)
            TensorPrimitives.Add(scores, _trend, scores);
    }

    /// <summary>
    /// The items that item i's presence raises the most: the largest B_ij in row i (B is not symmetric; its row is
    /// what i contributes to a basket's scores, which is what "customers who bought i" pages show).
    /// </summary>
    public override int SimilarItems(int item, Span<int> items, Span<float> scores)
    {
        var row = _b.AsSpan(item * Items, Items).ToArray();
        row[item] = float.NegativeInfinity;
        for (var j = 0; j < row.Length; j++)
        {
            if (row[j] <= 0)
                row[j] = float.NegativeInfinity;
        }
        return TopK.Select(row, items, scores);
    }

    public override void Save(BinaryWriter writer)
    {
        writer.Write(Users);
        writer.Write(Items);
        ArrayIo.Write(writer, _b);
        ArrayIo.Write(writer, _userItems!.RowStart);
        ArrayIo.Write(writer, _userItems.ColumnIndex);
        ArrayIo.Write(writer, _userItems.Values);
        ArrayIo.Write(writer, _trend ?? []);
    }

    public override void Load(BinaryReader reader)
    {
        Users = reader.ReadInt32();
        Items = reader.ReadInt32();
        _b = ArrayIo.ReadFloats(reader);
        var rowStart = ArrayIo.ReadInts(reader);
        var columns = ArrayIo.ReadInts(reader);
        _userItems = new CsrMatrix(Users, Items, rowStart, columns, ArrayIo.ReadFloats(reader));
        var trend = ArrayIo.ReadFloats(reader);
        _trend = trend.Length == 0 ? null : trend;
    }
}
