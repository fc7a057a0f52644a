using System.Diagnostics;
using System.Numerics.Tensors;

namespace Recs.Services.Engine;

/// <summary>
/// bpr: matrix factorisation trained with Bayesian Personalized Ranking (Rendle et al. 2009) by SGD. Each step
/// samples an observed pair (u, i) and an item j the user does not have, and ascends
/// ln σ(x̂_ui − x̂_uj) − λ‖Θ‖², where x̂_ui = w_u·h_i + b_i. One epoch = as many steps as observed pairs;
/// the training loss is the epoch's mean −ln σ(x̂_ui − x̂_uj). Single-threaded so that a seed fixes the model.
/// </summary>
public sealed class BprRecommender : Recommender, IFactorModel
{
    public const string Name = "bpr";

    /// <summary>bpr in the catalogue.</summary>
    public static readonly RecipeDescriptor Descriptor = new(Name,
        "Matrix factorisation trained for ranking (Bayesian Personalized Ranking, SGD).",
        [
            new("factors", 64, 1, 1024, Integer: true, Help: "length of the user and item vectors") { Search = (16, 128), LogScale = true },
            new("epochs", 30, 1, 1000, Integer: true, Help: "passes at most; early stopping on validation picks the best"),
            new("learning-rate", 0.05, 1e-6, 10, Help: "SGD step") { Search = (0.005, 0.2), LogScale = true },
            new("regularization", 0.002, 0, 10, Help: "L2 penalty") { Search = (1e-5, 0.05), LogScale = true },
        ],
        v => new BprRecommender(v.Int("factors"), v.Int("epochs"), v.Float("learning-rate"), v.Float("regularization")))
    {
        EpochParameter = "epochs",
    };

    private readonly int _factors;
    private readonly int _epochs;
    private readonly float _learningRate;
    private readonly float _regularization;
    private float[] _w = [];
    private float[] _h = [];
    private float[] _bias = [];

    public BprRecommender(int factors = 64, int epochs = 30, float learningRate = 0.05f, float regularization = 0.002f)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(factors, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(epochs, 1);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(learningRate);
        ArgumentOutOfRangeException.ThrowIfNegative(regularization);
        _factors = factors;
        _epochs = epochs;
        _learningRate = learningRate;
        _regularization = regularization;
    }

    public override string Recipe => Name;

    public int Factors => _factors;

    float[] IFactorModel.UserFactorArray => _w;

    float[] IFactorModel.ItemFactorArray => _h;

    float[]? IFactorModel.ItemBias => _bias;

    public override IReadOnlyDictionary<string, object> Hyperparameters => new Dictionary<string, object>
    {
        ["factors"] = _factors, ["epochs"] = _epochs, ["learning_rate"] = _learningRate, ["regularization"] = _regularization,
    };


    public override void Fit(CsrMatrix userItems, FitOptions options)
    {
        Users = userItems.Rows;
        Items = userItems.Columns;
        var f = _factors;
        var rng = new SeededRandom(options.Seed);
        _w = new float[Users * f];
        _h = new float[Items * f];
        _bias = new float[Items];
        for (var k = 0; k < _w.Length; k++)
            _w[k] = (float)(rng.Normal() * 0.1);
        for (var k = 0; k < _h.Length; k++)
            _h[k] = (float)(rng.Normal() * 0.1);

        // Row of every stored pair, so a uniform draw over pairs gives (u, i).
        var pairUser = new int[userItems.NonZeros];
        for (var u = 0; u < Users; u++)
            for (var k = userItems.RowStart[u]; k < userItems.RowStart[u + 1]; k++) pairUser[k] = u;

        BeginFit();
        float[]? bestW = null, bestH = null, bestBias = null;
        var diff = new float[f];
        var wu = new float[f];
        for (var epoch = 1; epoch <= _epochs; epoch++)
        {
            options.Cancellation.ThrowIfCancellationRequested();
            var clock = Stopwatch.StartNew();
            double lossSum = 0;
            var steps = userItems.NonZeros;
            for (var s = 0; s < steps; s++)
            {
                var pair = rng.Next(steps);
                var u = pairUser[pair];
                var i = userItems.ColumnIndex[pair];
                var j = SampleNegative(userItems, u, rng);
                if (j < 0)
                    continue;
                var w = _w.AsSpan(u * f, f);
                var hi = _h.AsSpan(i * f, f);
                var hj = _h.AsSpan(j * f, f);
                TensorPrimitives.Subtract(hi, hj, diff);
                var x = TensorPrimitives.Dot(w, diff) + _bias[i] - _bias[j];
                lossSum += Softplus(-x);
                var z = 1f / (1f + MathF.Exp(x)); // σ(−x): the gradient's weight
                w.CopyTo(wu);
                // w_u += η (z (h_i − h_j) − λ w_u); h_i += η (z w_u − λ h_i); h_j += η (−z w_u − λ h_j)
                TensorPrimitives.Multiply(w, 1 - _learningRate * _regularization, w);
                TensorPrimitives.MultiplyAdd(diff, _learningRate * z, w, w);
                TensorPrimitives.Multiply(hi, 1 - _learningRate * _regularization, hi);
                TensorPrimitives.MultiplyAdd(wu, _learningRate * z, hi, hi);
                TensorPrimitives.Multiply(hj, 1 - _learningRate * _regularization, hj);
                TensorPrimitives.MultiplyAdd(wu, -_learningRate * z, hj, hj);
                _bias[i] += _learningRate * (z - _regularization * _bias[i]);
                _bias[j] += _learningRate * (-z - _regularization * _bias[j]);
            }
            var seconds = clock.Elapsed.TotalSeconds;
            var validationLoss = Validation is null ? (double?)null : ValidationLoss(Validation, userItems, options.Seed);
            var ndcg = options.ValidationNdcg?.Invoke(this);
            var record = new EpochRecord(epoch, lossSum / Math.Max(1, steps), validationLoss, ndcg, seconds);
            if (!EndEpoch(record, options, () => (bestW, bestH, bestBias) = ((float[])_w.Clone(), (float[])_h.Clone(), (float[])_bias.Clone())))
                break;
        }
        if (bestW is not null)
        {
            _w = bestW;
            _h = bestH!;
            _bias = bestBias!;
        }
    }

    private static double Softplus(double v) => v > 30 ? v : Math.Log(1 + Math.Exp(v));

    /// <summary>An item the user has not interacted with (rows are sorted, so a binary search decides); −1 if none found.</summary>
    private int SampleNegative(CsrMatrix userItems, int u, SeededRandom rng)
    {
        var row = userItems.RowColumns(u);
        if (row.Length >= Items)
            return -1;
        for (var attempt = 0; attempt < 20; attempt++)
        {
            var j = rng.Next(Items);
            if (row.BinarySearch(j) < 0)
                return j;
        }
        return -1;
    }

    /// <summary>Mean −ln σ(x̂_ui − x̂_uj) over validation pairs, with negatives drawn from a fixed seed (comparable across epochs).</summary>
    private double ValidationLoss(CsrMatrix validation, CsrMatrix train, ulong seed)
    {
        var rng = new SeededRandom(seed ^ 0x5EEDUL);
        double sum = 0;
        var n = 0;
        var f = _factors;
        for (var u = 0; u < Math.Min(validation.Rows, Users); u++)
        {
            foreach (var i in validation.RowColumns(u))
            {
                var j = SampleNegative(train, u, rng);
                if (j < 0 || i >= Items)
                    continue;
                var w = _w.AsSpan(u * f, f);
                var x = TensorPrimitives.Dot(w, _h.AsSpan(i * f, f)) - TensorPrimitives.Dot(w, _h.AsSpan(j * f, f)) + _bias[i] - _bias[j];
                sum += Softplus(-x);
                n++;
            }
        }
        return n == 0 ? 0 : sum / n;
    }

    public override void Score(int user, Span<float> scores)
    {
        var w = _w.AsSpan(user * _factors, _factors);
        for (var i = 0; i < Items; i++)
            scores[i] = TensorPrimitives.Dot(w, _h.AsSpan(i * _factors, _factors)) + _bias[i];
    }

    public override int SimilarItems(int item, Span<int> items, Span<float> scores) =>
        FactorMath.CosineNeighbours(_h, _factors, item, items, scores);

    public override void Save(BinaryWriter writer)
    {
        writer.Write(Users);
        writer.Write(Items);
        writer.Write(_factors);
        ArrayIo.Write(writer, _w);
        ArrayIo.Write(writer, _h);
        ArrayIo.Write(writer, _bias);
    }

    public override void Load(BinaryReader reader)
    {
        Users = reader.ReadInt32();
        Items = reader.ReadInt32();
        var f = reader.ReadInt32();
        if (f != _factors)
            throw new InvalidDataException($"The artifact has {f} factors; this recommender was made for {_factors}.");
        _w = ArrayIo.ReadFloats(reader);
        _h = ArrayIo.ReadFloats(reader);
        _bias = ArrayIo.ReadFloats(reader);
    }
}
