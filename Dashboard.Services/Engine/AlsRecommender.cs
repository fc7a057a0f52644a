using System.Diagnostics;
using System.Numerics.Tensors;

namespace Recs.Services.Engine;

/// <summary>
/// user-personalization: implicit-feedback ALS (Hu, Koren &amp; Volinsky 2008). Preference p_ui = 1 for observed
/// pairs, 0 otherwise; confidence c_ui = 1 + α·ln(1 + w_ui). Minimises
/// Σ_u Σ_i c_ui (p_ui − x_u·y_i)² + λ(‖X‖² + ‖Y‖²) by alternating least squares, each row solved approximately
/// with a few conjugate-gradient steps warm-started from its previous value (Takács, Pilászy &amp; Tikk 2011),
/// using YᵀY + Yᵀ(C_u − I)Y so only observed pairs cost anything. Rows are solved in parallel; the kernels
/// are SIMD (TensorPrimitives). The same factors serve personalized-ranking.
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

    /// <summary>Runs <paramref name="iterations"/> ALS sweeps and returns seconds per sweep (for benchmarks).</summary>
    public double[] TimeIterations(CsrMatrix userItems, int iterations, ulong seed = 42)
    {
        var probe = new AlsRecommender(_factors, iterations, _regularization, _alpha, _cgSteps, _recipe);
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

        Parallel.For(0, confidence.Rows, new ParallelOptions { CancellationToken = cancellation },
            () => new float[3 * f],
            (row, _, buffer) =>
            {
                var r = buffer.AsSpan(0, f);
                var p = buffer.AsSpan(f, f);
                var ap = buffer.AsSpan(2 * f, f);
                var x = target.AsSpan(row * f, f);
                var items = confidence.RowColumns(row);
                var cm1 = confidence.RowValues(row);

                // r = Yᵀ C_u p_u − (YᵀY + λI + Yᵀ(C_u − I)Y) x
                MatVec(gram, x, r, f);
                TensorPrimitives.Negate(r, r);
                for (var k = 0; k < items.Length; k++)
                {
                    var y = fixedFactors.AsSpan(items[k] * f, f);
                    var c = cm1[k];
                    TensorPrimitives.MultiplyAdd(y, c + 1 - c * TensorPrimitives.Dot(y, x), r, r);
                }
                r.CopyTo(p);
                var rsOld = TensorPrimitives.Dot(r, r);
                if (rsOld < 1e-20f)
                    return buffer;

                for (var step = 0; step < _cgSteps; step++)
                {
                    MatVec(gram, p, ap, f);
                    for (var k = 0; k < items.Length; k++)
                    {
                        var y = fixedFactors.AsSpan(items[k] * f, f);
                        TensorPrimitives.MultiplyAdd(y, cm1[k] * TensorPrimitives.Dot(y, p), ap, ap);
                    }
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
                return buffer;
            },
            _ => { });
    }

    /// <summary>YᵀY (f × f) for row-major Y, summed per thread and then combined.</summary>
    private static float[] Gram(float[] factors, int f)
    {
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
        foreach (var (item, weight) in summed)
        {
            var cm1 = _alpha * MathF.Log(1 + weight);
            var y = _y.AsSpan(item * f, f);
            for (var r = 0; r < f; r++)
            {
                b[r] += (1 + cm1) * y[r];
                var scaled = cm1 * y[r];
                for (var c = 0; c < f; c++)
                    a[r * f + c] += scaled * y[c];
            }
        }
        var x = FactorMath.SolveSymmetricPositiveDefinite(a, b, f);
        return Array.ConvertAll(x, v => (float)v);
    }

    /// <summary>Scores every item for a user vector (from <see cref="FoldIn"/>).</summary>
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
