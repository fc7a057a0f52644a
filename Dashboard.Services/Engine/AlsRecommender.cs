using System.Diagnostics;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Recs.Services.Engine;

/// <summary>
/// user-personalization: implicit-feedback ALS (Hu, Koren &amp; Volinsky 2008). Preference p_ui = 1 for observed
/// pairs, 0 otherwise; confidence c_ui = 1 + α·ln(1 + w_ui). Minimises
/// Σ_u Σ_i c_ui (p_ui − x_u·y_i)² + λ(‖X‖² + ‖Y‖²) by alternating least squares, each row solved approximately
/// with a few conjugate-gradient steps warm-started from its previous value (Takács, Pilászy &amp; Tikk 2011),
/// using YᵀY + Yᵀ(C_u − I)Y so only observed pairs cost anything. Rows are solved in parallel; the kernels
/// are SIMD: with 64 factors and AVX-512 a row's whole solve runs in vector registers, otherwise Vector&lt;T&gt; loops.
/// The same factors serve personalized-ranking.
/// </summary>
public sealed class AlsRecommender : Recommender, IFactorModel, IHistoryScorer
{
    public const string Name = "user-personalization";
    public const string RankingName = "personalized-ranking";

    private static HyperParameter[] Parameters =>
    [
        new("factors", 64, 1, 1024, Integer: true, Help: "length of the user and item vectors") { Search = (16, 192), LogScale = true },
        new("iterations", 15, 1, 500, Integer: true, Help: "sweeps at most; early stopping on validation picks the best") { Search = null },
        new("regularization", 0.05, 0, 1e4, Help: "L2 penalty λ on the factors") { Search = (0.01, 100), LogScale = true },
        new("alpha", 10, 0, 1e6, Help: "confidence slope: c = 1 + α·ln(1 + weight)") { Search = (0.5, 60), LogScale = true },
        new("cg-steps", 3, 1, 50, Integer: true, Help: "conjugate-gradient steps per row and sweep"),
    ];

    private static AlsRecommender Make(HyperValues v, string recipe) => new(
        v.Int("factors"), v.Int("iterations"), v.Float("regularization"), v.Float("alpha"), v.Int("cg-steps"), recipe);

    /// <summary>user-personalization in the catalogue.</summary>
    public static readonly RecipeDescriptor Descriptor = new(Name,
        "Implicit-feedback matrix factorisation (ALS with conjugate gradient): personal, fast, folds new events in at once.",
        Parameters, v => Make(v, Name))
    {
        EpochParameter = "iterations", CanFoldIn = true,
    };

    /// <summary>personalized-ranking: the same model, registered for re-ranking a given list.</summary>
    public static readonly RecipeDescriptor RankingDescriptor = new(RankingName,
        "The ALS model used to re-rank a list the caller gives (Personalize's personalized-ranking).",
        Parameters, v => Make(v, RankingName))
    {
        EpochParameter = "iterations", CanFoldIn = true, AutoCandidate = false, Serves = [ModelUses.PersonalizedRanking, ModelUses.UserRecommendations],
    };

    private readonly int _factors;
    private readonly int _iterations;
    private readonly float _regularization;
    private readonly float _alpha;
    private readonly int _cgSteps;
    private readonly string _recipe;
    private float[] _x = [];
    private float[] _y = [];

    public AlsRecommender(int factors = 64, int iterations = 15, float regularization = 0.05f, float alpha = 10f, int cgSteps = 3, string recipe = Name)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(factors, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(iterations, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(regularization);
        ArgumentOutOfRangeException.ThrowIfNegative(alpha);
        ArgumentOutOfRangeException.ThrowIfLessThan(cgSteps, 1);
        _factors = factors;
        _iterations = iterations;
        _regularization = regularization;
        _alpha = alpha;
        _cgSteps = cgSteps;
        _recipe = recipe;
    }

    public override string Recipe => _recipe;

    public int Factors => _factors;

    public override IReadOnlyDictionary<string, object> Hyperparameters => new Dictionary<string, object>
    {
        ["factors"] = _factors, ["iterations"] = _iterations, ["regularization"] = _regularization, ["alpha"] = _alpha, ["cg_steps"] = _cgSteps,
    };

    float[] IFactorModel.UserFactorArray => _x;

    float[] IFactorModel.ItemFactorArray => _y;

    float[]? IFactorModel.ItemBias => null;

    /// <summary>User factors, row-major (users × factors).</summary>
    public ReadOnlySpan<float> UserFactors => _x;

    /// <summary>Item factors, row-major (items × factors).</summary>
    public ReadOnlySpan<float> ItemFactors => _y;

    /// <summary>Confidence minus one: α·ln(1 + w).</summary>
    private CsrMatrix Confidence(CsrMatrix weights) => weights.WithValues(w => _alpha * MathF.Log(1 + Math.Max(0, w)));

    public override void Fit(CsrMatrix userItems, FitOptions options)
    {
        CheckStructure(userItems);
        Users = userItems.Rows;
        Items = userItems.Columns;
        _itemGram = null;
        var cui = Confidence(userItems);
        var ciu = cui.Transpose();
        var rng = new SeededRandom(options.Seed);
        _x = new float[Users * _factors];
        _y = new float[Items * _factors];
        for (var k = 0; k < _x.Length; k++)
            _x[k] = (float)(rng.Normal() * 0.01);
        for (var k = 0; k < _y.Length; k++)
            _y[k] = (float)(rng.Normal() * 0.01);

        BeginFit();
        float[]? bestX = null, bestY = null;
        for (var epoch = 1; epoch <= _iterations; epoch++)
        {
            options.Cancellation.ThrowIfCancellationRequested();
            var clock = Stopwatch.StartNew();
            SolveSide(_x, _y, cui, options.Cancellation);
            SolveSide(_y, _x, ciu, options.Cancellation);
            var seconds = clock.Elapsed.TotalSeconds;
            var loss = Loss(cui);
            var ndcg = options.ValidationNdcg?.Invoke(this);
            if (!EndEpoch(new EpochRecord(epoch, loss, null, ndcg, seconds), options, () => (bestX, bestY) = ((float[])_x.Clone(), (float[])_y.Clone())))
                break;
        }
        if (bestX is not null && bestY is not null)
        {
            _x = bestX;
            _y = bestY;
        }
    }

    /// <summary>The 64-factor kernels index factor rows without bounds checks, so the row ranges and columns are checked once here.</summary>
    private static void CheckStructure(CsrMatrix m)
    {
        if (m.RowStart[0] != 0)
            throw new ArgumentException("The first row must start at 0.", nameof(m));
        for (var r = 0; r < m.Rows; r++)
        {
            if (m.RowStart[r + 1] < m.RowStart[r])
                throw new ArgumentException($"Row {r} ends before it starts.", nameof(m));
        }
        foreach (var c in m.ColumnIndex)
        {
            if ((uint)c >= (uint)m.Columns)
                throw new ArgumentException($"Column {c} is outside 0..{m.Columns - 1}.", nameof(m));
        }
    }

    /// <summary>Runs <paramref name="iterations"/> ALS sweeps and returns seconds per sweep (for benchmarks).</summary>
    public double[] TimeIterations(CsrMatrix userItems, int iterations, ulong seed = 42)
    {
        var probe = new AlsRecommender(_factors, iterations, _regularization, _alpha, _cgSteps, _recipe) { GeneralKernel = GeneralKernel };
        probe.Fit(userItems, new FitOptions { Seed = seed });
        return probe.History.Select(h => h.Seconds).ToArray();
    }

    /// <summary>Solves every row of <paramref name="target"/> against the fixed factors, in parallel.</summary>
    private void SolveSide(float[] target, float[] fixedFactors, CsrMatrix confidence, CancellationToken cancellation)
    {
        var f = _factors;
        var gram = Gram(fixedFactors, f);
        for (var g = 0; g < f; g++)
            gram[g * f + g] += _regularization;
        var fast = f == 64 && Vector512.IsHardwareAccelerated && !GeneralKernel;

        Parallel.For(0, confidence.Rows, new ParallelOptions { CancellationToken = cancellation },
            () => new float[3 * f],
            (row, _, buffer) =>
            {
                if (fast)
                    SolveRow64(target, fixedFactors, confidence, gram, row, buffer, _cgSteps);
                else
                    SolveRow(target, fixedFactors, confidence, gram, row, buffer, f, _cgSteps);
                return buffer;
            },
            _ => { });
    }

    /// <summary>For tests: solve with the general kernel even where the 64-factor AVX-512 one applies.</summary>
    internal bool GeneralKernel { get; init; }

    /// <summary>Conjugate-gradient steps for one row, any factor count; vectors of the machine's width with a scalar tail.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SolveRow(float[] target, float[] fixedFactors, CsrMatrix confidence, float[] gram, int row, float[] buffer, int f, int cgSteps)
    {
        var r = buffer.AsSpan(0, f);
        var p = buffer.AsSpan(f, f);
        var ap = buffer.AsSpan(2 * f, f);
        var x = target.AsSpan(row * f, f);
        var items = confidence.RowColumns(row);
        var cm1 = confidence.RowValues(row);

        // r = Yᵀ C_u p_u − (YᵀY + λI + Yᵀ(C_u − I)Y) x
        GramTimes(gram, x, r, f);
        TensorPrimitives.Negate(r, r);
        for (var k = 0; k < items.Length; k++)
            AddObserved(fixedFactors.AsSpan(items[k] * f, f), x, r, cm1[k] + 1, -cm1[k]);
        r.CopyTo(p);
        var rsOld = TensorPrimitives.Dot(r, r);
        if (rsOld < 1e-20f)
            return;

        for (var step = 0; step < cgSteps; step++)
        {
            GramTimes(gram, p, ap, f);
            for (var k = 0; k < items.Length; k++)
                AddObserved(fixedFactors.AsSpan(items[k] * f, f), p, ap, 0, cm1[k]);
            var alpha = rsOld / TensorPrimitives.Dot(p, ap);
            TensorPrimitives.MultiplyAdd(p, alpha, x, x);
            TensorPrimitives.MultiplyAdd(ap, -alpha, r, r);
            var rsNew = TensorPrimitives.Dot(r, r);
            if (rsNew < 1e-20f)
                break;
            // p = r + (rsNew / rsOld) p
            TensorPrimitives.MultiplyAdd(p, rsNew / rsOld, r, p);
            rsOld = rsNew;
        }
    }

    /// <summary>
    /// acc += (a + b·(y·v))·y, inlined into the row loop: two calls into TensorPrimitives per observed item cost more
    /// than the arithmetic at these lengths.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddObserved(ReadOnlySpan<float> y, ReadOnlySpan<float> v, Span<float> acc, float a, float b) =>
        AddScaled(y, a + b * Dot(y, v), acc);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot(ReadOnlySpan<float> y, ReadOnlySpan<float> v)
    {
        ref var yRef = ref MemoryMarshal.GetReference(y);
        ref var vRef = ref MemoryMarshal.GetReference(v);
        var sum = Vector<float>.Zero;
        var g = 0;
        for (; g + Vector<float>.Count <= y.Length; g += Vector<float>.Count)
            sum = Vector.FusedMultiplyAdd(Vector.LoadUnsafe(ref yRef, (nuint)g), Vector.LoadUnsafe(ref vRef, (nuint)g), sum);
        var s = Vector.Sum(sum);
        for (; g < y.Length; g++)
            s += Unsafe.Add(ref yRef, g) * Unsafe.Add(ref vRef, g);
        return s;
    }

    /// <summary>acc += scale·y (acc at least as long as y).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddScaled(ReadOnlySpan<float> y, float scale, Span<float> acc)
    {
        ref var yRef = ref MemoryMarshal.GetReference(y);
        ref var accRef = ref MemoryMarshal.GetReference(acc[..y.Length]);
        var scaleVector = new Vector<float>(scale);
        var g = 0;
        for (; g + Vector<float>.Count <= y.Length; g += Vector<float>.Count)
            Vector.FusedMultiplyAdd(Vector.LoadUnsafe(ref yRef, (nuint)g), scaleVector, Vector.LoadUnsafe(ref accRef, (nuint)g)).StoreUnsafe(ref accRef, (nuint)g);
        for (; g < y.Length; g++)
            Unsafe.Add(ref accRef, g) += scale * Unsafe.Add(ref yRef, g);
    }

    /// <summary>result = G v for the symmetric Gram matrix: row g scaled by v[g], summed (no horizontal sums).</summary>
    private static void GramTimes(float[] gram, ReadOnlySpan<float> v, Span<float> result, int f)
    {
        result.Clear();
        for (var g = 0; g < f; g++)
            AddScaled(gram.AsSpan(g * f, f), v[g], result);
    }

    /// <summary>
    /// <see cref="SolveRow"/> for exactly 64 factors with AVX-512: x, r, p and Ap live in four 16-float registers
    /// each, so every observed item costs one load of y, a dot product and an update in one pass (instead of two calls
    /// that each walk y), and the Gram product is 64 broadcast multiply-adds with no horizontal sums. The arithmetic
    /// per row is fixed, so results do not depend on how rows are scheduled across threads.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SolveRow64(float[] target, float[] fixedFactors, CsrMatrix confidence, float[] gram, int row, float[] buffer, int cgSteps)
    {
        const int f = 64;
        // Indices come from a validated CsrMatrix (columns < fixed rows), so the loads below stay inside the arrays.
        ref var yBase = ref MemoryMarshal.GetArrayDataReference(fixedFactors);
        ref var gBase = ref MemoryMarshal.GetArrayDataReference(gram);
        ref var v = ref MemoryMarshal.GetArrayDataReference(buffer);
        ref var xRef = ref target[row * f];
        var start = confidence.RowStart[row];
        var end = confidence.RowStart[row + 1];
        ref var columns = ref MemoryMarshal.GetArrayDataReference(confidence.ColumnIndex);
        ref var values = ref MemoryMarshal.GetArrayDataReference(confidence.Values);

        var x0 = Vector512.LoadUnsafe(ref xRef, 0);
        var x1 = Vector512.LoadUnsafe(ref xRef, 16);
        var x2 = Vector512.LoadUnsafe(ref xRef, 32);
        var x3 = Vector512.LoadUnsafe(ref xRef, 48);

        // r = Yᵀ C_u p_u − (YᵀY + λI + Yᵀ(C_u − I)Y) x, starting from −(YᵀY + λI) x.
        x0.StoreUnsafe(ref v, 0);
        x1.StoreUnsafe(ref v, 16);
        x2.StoreUnsafe(ref v, 32);
        x3.StoreUnsafe(ref v, 48);
        GramTimes(ref gBase, ref v, out var r0, out var r1, out var r2, out var r3);
        r0 = -r0;
        r1 = -r1;
        r2 = -r2;
        r3 = -r3;
        for (var k = start; k < end; k++)
        {
            ref var y = ref Unsafe.Add(ref yBase, (nint)Unsafe.Add(ref columns, k) * f);
            var y0 = Vector512.LoadUnsafe(ref y, 0);
            var y1 = Vector512.LoadUnsafe(ref y, 16);
            var y2 = Vector512.LoadUnsafe(ref y, 32);
            var y3 = Vector512.LoadUnsafe(ref y, 48);
            var s = Sum(Vector512.FusedMultiplyAdd(y1, x1, y0 * x0) + Vector512.FusedMultiplyAdd(y3, x3, y2 * x2));
            var c = Unsafe.Add(ref values, k);
            var coefficient = Vector512.Create(c + 1 - c * s);
            r0 = Vector512.FusedMultiplyAdd(y0, coefficient, r0);
            r1 = Vector512.FusedMultiplyAdd(y1, coefficient, r1);
            r2 = Vector512.FusedMultiplyAdd(y2, coefficient, r2);
            r3 = Vector512.FusedMultiplyAdd(y3, coefficient, r3);
        }
        var p0 = r0;
        var p1 = r1;
        var p2 = r2;
        var p3 = r3;
        var rsOld = Dot(r0, r1, r2, r3, r0, r1, r2, r3);
        if (rsOld < 1e-20f)
            return;

        for (var step = 0; step < cgSteps; step++)
        {
            p0.StoreUnsafe(ref v, 0);
            p1.StoreUnsafe(ref v, 16);
            p2.StoreUnsafe(ref v, 32);
            p3.StoreUnsafe(ref v, 48);
            GramTimes(ref gBase, ref v, out var ap0, out var ap1, out var ap2, out var ap3);
            for (var k = start; k < end; k++)
            {
                ref var y = ref Unsafe.Add(ref yBase, (nint)Unsafe.Add(ref columns, k) * f);
                var y0 = Vector512.LoadUnsafe(ref y, 0);
                var y1 = Vector512.LoadUnsafe(ref y, 16);
                var y2 = Vector512.LoadUnsafe(ref y, 32);
                var y3 = Vector512.LoadUnsafe(ref y, 48);
                var s = Sum(Vector512.FusedMultiplyAdd(y1, p1, y0 * p0) + Vector512.FusedMultiplyAdd(y3, p3, y2 * p2));
                var coefficient = Vector512.Create(Unsafe.Add(ref values, k) * s);
                ap0 = Vector512.FusedMultiplyAdd(y0, coefficient, ap0);
                ap1 = Vector512.FusedMultiplyAdd(y1, coefficient, ap1);
                ap2 = Vector512.FusedMultiplyAdd(y2, coefficient, ap2);
                ap3 = Vector512.FusedMultiplyAdd(y3, coefficient, ap3);
            }
            var alpha = Vector512.Create(rsOld / Dot(p0, p1, p2, p3, ap0, ap1, ap2, ap3));
            x0 = Vector512.FusedMultiplyAdd(p0, alpha, x0);
            x1 = Vector512.FusedMultiplyAdd(p1, alpha, x1);
            x2 = Vector512.FusedMultiplyAdd(p2, alpha, x2);
            x3 = Vector512.FusedMultiplyAdd(p3, alpha, x3);
            r0 = Vector512.FusedMultiplyAdd(ap0, -alpha, r0);
            r1 = Vector512.FusedMultiplyAdd(ap1, -alpha, r1);
            r2 = Vector512.FusedMultiplyAdd(ap2, -alpha, r2);
            r3 = Vector512.FusedMultiplyAdd(ap3, -alpha, r3);
            var rsNew = Dot(r0, r1, r2, r3, r0, r1, r2, r3);
            if (rsNew < 1e-20f)
                break;
            var beta = Vector512.Create(rsNew / rsOld);
            p0 = Vector512.FusedMultiplyAdd(p0, beta, r0);
            p1 = Vector512.FusedMultiplyAdd(p1, beta, r1);
            p2 = Vector512.FusedMultiplyAdd(p2, beta, r2);
            p3 = Vector512.FusedMultiplyAdd(p3, beta, r3);
            rsOld = rsNew;
        }
        x0.StoreUnsafe(ref xRef, 0);
        x1.StoreUnsafe(ref xRef, 16);
        x2.StoreUnsafe(ref xRef, 32);
        x3.StoreUnsafe(ref xRef, 48);
    }

    /// <summary>The sum of the lanes: halves folded down to four lanes, then two shuffles (Vector512.Sum takes about three times the instructions).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Sum(Vector512<float> v)
    {
        var half = v.GetLower() + v.GetUpper();
        var quarter = half.GetLower() + half.GetUpper();
        quarter += Vector128.Shuffle(quarter, Vector128.Create(2, 3, 0, 1));
        quarter += Vector128.Shuffle(quarter, Vector128.Create(1, 0, 3, 2));
        return quarter.ToScalar();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot(Vector512<float> a0, Vector512<float> a1, Vector512<float> a2, Vector512<float> a3,
        Vector512<float> b0, Vector512<float> b1, Vector512<float> b2, Vector512<float> b3) =>
        Sum(Vector512.FusedMultiplyAdd(a1, b1, a0 * b0) + Vector512.FusedMultiplyAdd(a3, b3, a2 * b2));

    /// <summary>(YᵀY + λI) v for 64 factors: the Gram matrix is symmetric, so row g times v[g] summed over g.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void GramTimes(ref float gram, ref float v, out Vector512<float> result0, out Vector512<float> result1, out Vector512<float> result2, out Vector512<float> result3)
    {
        // Two sets of accumulators: twice the independent multiply-add chains.
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default;
        for (nuint g = 0; g < 64; g += 2)
        {
            ref var row = ref Unsafe.Add(ref gram, g * 64);
            var s = Vector512.Create(Unsafe.Add(ref v, g));
            var t = Vector512.Create(Unsafe.Add(ref v, g + 1));
            a0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref row, 0), s, a0);
            a1 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref row, 16), s, a1);
            a2 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref row, 32), s, a2);
            a3 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref row, 48), s, a3);
            b0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref row, 64), t, b0);
            b1 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref row, 80), t, b1);
            b2 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref row, 96), t, b2);
            b3 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref row, 112), t, b3);
        }
        result0 = a0 + b0;
        result1 = a1 + b1;
        result2 = a2 + b2;
        result3 = a3 + b3;
    }

    /// <summary>YᵀY (f × f) for row-major Y, summed per thread and then combined.</summary>
    private static float[] Gram(float[] factors, int f)
    {
        if (f == 64 && Vector512.IsHardwareAccelerated)
            return Gram64(factors);
        var rows = factors.Length / f;
        var total = new float[f * f];
        var chunks = Math.Max(1, Math.Min(Environment.ProcessorCount * 4, rows / 256));
        var partial = new float[chunks][];
        Parallel.For(0, chunks, c =>
        {
            var acc = new float[f * f];
            for (var row = c * rows / chunks; row < (c + 1) * rows / chunks; row++)
            {
                var y = factors.AsSpan(row * f, f);
                for (var g = 0; g < f; g++)
                    TensorPrimitives.MultiplyAdd(y, y[g], acc.AsSpan(g * f, f), acc.AsSpan(g * f, f));
            }
            partial[c] = acc;
        });
        foreach (var acc in partial)
            TensorPrimitives.Add(total, acc, total);
        return total;
    }

    /// <summary>
    /// YᵀY for 64 factors with AVX-512: each task owns four rows of the result and keeps them in sixteen registers
    /// while it streams Y once, so nothing is summed across threads (the result does not depend on the core count).
    /// </summary>
    private static float[] Gram64(float[] factors)
    {
        const int f = 64;
        var rows = factors.Length / f;
        var gram = new float[f * f];
        Parallel.For(0, f / 4, block => GramRows64(factors, rows, gram, 4 * block));
        return gram;
    }

    /// <summary>Rows g..g+3 of YᵀY for 64 factors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GramRows64(float[] factors, int rows, float[] gram, int g)
    {
        const int f = 64;
        ref var y = ref MemoryMarshal.GetArrayDataReference(factors);
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
        for (nint row = 0; row < rows; row++)
        {
            ref var yr = ref Unsafe.Add(ref y, row * f);
            var y0 = Vector512.LoadUnsafe(ref yr, 0);
            var y1 = Vector512.LoadUnsafe(ref yr, 16);
            var y2 = Vector512.LoadUnsafe(ref yr, 32);
            var y3 = Vector512.LoadUnsafe(ref yr, 48);
            var s = Vector512.Create(Unsafe.Add(ref yr, g));
            a00 = Vector512.FusedMultiplyAdd(y0, s, a00);
            a01 = Vector512.FusedMultiplyAdd(y1, s, a01);
            a02 = Vector512.FusedMultiplyAdd(y2, s, a02);
            a03 = Vector512.FusedMultiplyAdd(y3, s, a03);
            s = Vector512.Create(Unsafe.Add(ref yr, g + 1));
            a10 = Vector512.FusedMultiplyAdd(y0, s, a10);
            a11 = Vector512.FusedMultiplyAdd(y1, s, a11);
            a12 = Vector512.FusedMultiplyAdd(y2, s, a12);
            a13 = Vector512.FusedMultiplyAdd(y3, s, a13);
            s = Vector512.Create(Unsafe.Add(ref yr, g + 2));
            a20 = Vector512.FusedMultiplyAdd(y0, s, a20);
            a21 = Vector512.FusedMultiplyAdd(y1, s, a21);
            a22 = Vector512.FusedMultiplyAdd(y2, s, a22);
            a23 = Vector512.FusedMultiplyAdd(y3, s, a23);
            s = Vector512.Create(Unsafe.Add(ref yr, g + 3));
            a30 = Vector512.FusedMultiplyAdd(y0, s, a30);
            a31 = Vector512.FusedMultiplyAdd(y1, s, a31);
            a32 = Vector512.FusedMultiplyAdd(y2, s, a32);
            a33 = Vector512.FusedMultiplyAdd(y3, s, a33);
        }
        ref var out0 = ref gram[g * f];
        a00.StoreUnsafe(ref out0, 0);
        a01.StoreUnsafe(ref out0, 16);
        a02.StoreUnsafe(ref out0, 32);
        a03.StoreUnsafe(ref out0, 48);
        a10.StoreUnsafe(ref out0, 64);
        a11.StoreUnsafe(ref out0, 80);
        a12.StoreUnsafe(ref out0, 96);
        a13.StoreUnsafe(ref out0, 112);
        a20.StoreUnsafe(ref out0, 128);
        a21.StoreUnsafe(ref out0, 144);
        a22.StoreUnsafe(ref out0, 160);
        a23.StoreUnsafe(ref out0, 176);
        a30.StoreUnsafe(ref out0, 192);
        a31.StoreUnsafe(ref out0, 208);
        a32.StoreUnsafe(ref out0, 224);
        a33.StoreUnsafe(ref out0, 240);
    }

    private static void MatVec(float[] matrix, ReadOnlySpan<float> v, Span<float> result, int f)
    {
        for (var g = 0; g < f; g++)
            result[g] = TensorPrimitives.Dot(matrix.AsSpan(g * f, f), v);
    }

    /// <summary>
    /// The objective per matrix cell: [Σ_u (x_uᵀ YᵀY x_u + Σ_{i∈u} ((c−1)s² − 2cs + c)) + λ(‖X‖² + ‖Y‖²)] / (users · items),
    /// with s = x_u·y_i, which equals Σ_u Σ_i c_ui (p_ui − s_ui)² + λ(‖X‖² + ‖Y‖²) over every cell without visiting them all.
    /// </summary>
    public double Loss(CsrMatrix confidence)
    {
        var f = _factors;
        var gram = Gram(_y, f);
        var perUser = new double[Users];
        if (f == 64 && Vector512.IsHardwareAccelerated && !GeneralKernel)
        {
            Parallel.For(0, Users, u => perUser[u] = UserLoss64(_x, _y, confidence, gram, u));
            return (perUser.Sum() + _regularization * (TensorPrimitives.SumOfSquares(_x) + (double)TensorPrimitives.SumOfSquares(_y))) / ((double)Users * Items);
        }
        Parallel.For(0, Users, () => new float[f], (u, _, tmp) =>
        {
            var x = _x.AsSpan(u * f, f);
            MatVec(gram, x, tmp, f);
            double loss = TensorPrimitives.Dot(tmp, x);
            var items = confidence.RowColumns(u);
            var cm1 = confidence.RowValues(u);
            for (var k = 0; k < items.Length; k++)
            {
                double s = TensorPrimitives.Dot(x, _y.AsSpan(items[k] * f, f));
                double c = cm1[k] + 1;
                loss += (c - 1) * s * s - 2 * c * s + c;
            }
            perUser[u] = loss;
            return tmp;
        }, _ => { });
        var total = perUser.Sum() + _regularization * (TensorPrimitives.SumOfSquares(_x) + (double)TensorPrimitives.SumOfSquares(_y));
        return total / ((double)Users * Items);
    }

    /// <summary>One user's term of <see cref="Loss"/> with the 64-factor AVX-512 kernels.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double UserLoss64(float[] userFactors, float[] itemFactors, CsrMatrix confidence, float[] gram, int u)
    {
        const int f = 64;
        ref var xRef = ref userFactors[u * f];
        ref var yBase = ref MemoryMarshal.GetArrayDataReference(itemFactors);
        var x0 = Vector512.LoadUnsafe(ref xRef, 0);
        var x1 = Vector512.LoadUnsafe(ref xRef, 16);
        var x2 = Vector512.LoadUnsafe(ref xRef, 32);
        var x3 = Vector512.LoadUnsafe(ref xRef, 48);
        GramTimes(ref MemoryMarshal.GetArrayDataReference(gram), ref xRef, out var t0, out var t1, out var t2, out var t3);
        double loss = Dot(t0, t1, t2, t3, x0, x1, x2, x3);
        var items = confidence.RowColumns(u);
        var cm1 = confidence.RowValues(u);
        for (var k = 0; k < items.Length; k++)
        {
            ref var y = ref Unsafe.Add(ref yBase, (nint)items[k] * f);
            double s = Dot(Vector512.LoadUnsafe(ref y, 0), Vector512.LoadUnsafe(ref y, 16), Vector512.LoadUnsafe(ref y, 32), Vector512.LoadUnsafe(ref y, 48), x0, x1, x2, x3);
            double c = cm1[k] + 1;
            loss += (c - 1) * s * s - 2 * c * s + c;
        }
        return loss;
    }

    public override void Score(int user, Span<float> scores)
    {
        var x = _x.AsSpan(user * _factors, _factors);
        for (var i = 0; i < Items; i++)
            scores[i] = TensorPrimitives.Dot(x, _y.AsSpan(i * _factors, _factors));
    }

    private float[]? _itemGram;

    /// <summary>
    /// Folds a user in without retraining: with the item factors Y fixed, solves exactly the same least-squares
    /// problem a training sweep solves for a user row,
    /// x = (YᵀY + λI + Σᵢ (cᵢ − 1) yᵢyᵢᵀ)⁻¹ Σᵢ cᵢ yᵢ with cᵢ = 1 + α·ln(1 + wᵢ),
    /// by Cholesky (f × f; microseconds for f = 64). Items repeated in the input add their weights.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // the event tracker's hot path: optimised from its first call, not after warm-up
    public float[] FoldIn(ReadOnlySpan<int> items, ReadOnlySpan<float> weights)
    {
        var f = _factors;
        var gram = _itemGram ??= Gram(_y, f);
        var a = new double[f * f];
        var b = new double[f];
        for (var k = 0; k < a.Length; k++)
            a[k] = gram[k];
        for (var g = 0; g < f; g++)
            a[g * f + g] += _regularization;
        var summed = new Dictionary<int, float>();
        for (var k = 0; k < items.Length; k++)
        {
            if ((uint)items[k] < (uint)Items && weights[k] > 0)
                summed[items[k]] = summed.GetValueOrDefault(items[k]) + weights[k];
        }
        // A rank-one update of A per item, a row at a time in vector registers (the event tracker folds users with a
        // thousand items in: the scalar loop took milliseconds there).
        var y = new double[f];
        foreach (var (item, weight) in summed)
        {
            var cm1 = _alpha * MathF.Log(1 + weight);
            var row = _y.AsSpan(item * f, f);
            for (var r = 0; r < f; r++)
                y[r] = row[r];
            TensorPrimitives.MultiplyAdd(y, 1 + (double)cm1, b, b);
            for (var r = 0; r < f; r++)
            {
                var ar = a.AsSpan(r * f, f);
                TensorPrimitives.MultiplyAdd(y, cm1 * y[r], ar, ar);
            }
        }
        var x = FactorMath.SolveSymmetricPositiveDefinite(a, b, f);
        return Array.ConvertAll(x, v => (float)v);
    }

    /// <summary>Scores every item for a user vector (from <see cref="FoldIn"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Score(ReadOnlySpan<float> user, Span<float> scores)
    {
        for (var i = 0; i < Items; i++)
            scores[i] = TensorPrimitives.Dot(user, _y.AsSpan(i * _factors, _factors));
    }

    /// <summary>Folds the history in (<see cref="FoldIn"/>) and scores every item.</summary>
    public void ScoreHistory(ReadOnlySpan<int> items, ReadOnlySpan<float> weights, Span<float> scores) => Score(FoldIn(items, weights), scores);

    /// <summary>Cosine similarity of item factors.</summary>
    public override int SimilarItems(int item, Span<int> items, Span<float> scores) =>
        FactorMath.CosineNeighbours(_y, _factors, item, items, scores);

    public override void Save(BinaryWriter writer)
    {
        writer.Write(Users);
        writer.Write(Items);
        writer.Write(_factors);
        ArrayIo.Write(writer, _x);
        ArrayIo.Write(writer, _y);
    }

    public override void Load(BinaryReader reader)
    {
        Users = reader.ReadInt32();
        Items = reader.ReadInt32();
        var f = reader.ReadInt32();
        if (f != _factors)
            throw new InvalidDataException($"The artifact has {f} factors; this recommender was made for {_factors}.");
        _x = ArrayIo.ReadFloats(reader);
        _y = ArrayIo.ReadFloats(reader);
        _itemGram = null;
    }
}
