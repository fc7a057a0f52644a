using System.Diagnostics;
using System.Numerics.Tensors;

namespace Recs.Services.Engine;

/// <summary>
/// rating-mf: biased matrix factorisation for explicit ratings (Funk 2006; Koren, Bell &amp; Volinsky 2009),
/// r̂_ui = μ + b_u + b_i + p_u·q_i, fitted to the observed ratings only by SGD on
/// Σ (r_ui − r̂_ui)² + λ(b_u² + b_i² + ‖p_u‖² + ‖q_i‖²): for each rating, in a seeded shuffled order, with e = r − r̂,
/// b_u += η(e − λb_u), b_i += η(e − λb_i), p_u += η(e q_i − λp_u), q_i += η(e p_u − λq_i).
/// Defaults are the classic ones (Surprise's SVD): η = 0.005, λ = 0.02, 20 epochs, factors drawn from N(0, 0.1²).
/// The ratings are the interactions' values (mean of repeats; the weights when there are none): see
/// <see cref="Prepare"/>. Each epoch records the training MSE and, with <see cref="Recommender.Validation"/>, the validation
/// MSE, which then decides early stopping (the quantity the model is fitted for; validation NDCG otherwise).
/// Rankings (<see cref="Recommender.Score"/>) are by predicted rating. Single-threaded, so a seed fixes the model.
/// </summary>
public sealed class RatingMfRecommender : Recommender, IRatingPredictor
{
    public const string Name = "rating-mf";

    /// <summary>
    /// rating-mf in the catalogue. Not an auto candidate: it predicts ratings (judged by RMSE and MAE), and a list
    /// ranked by predicted rating loses to popularity on ranking metrics, so a ranking search would only spend trials on it.
    /// </summary>
    public static readonly RecipeDescriptor Descriptor = new(Name,
        "Biased matrix factorisation of explicit ratings (EVENT_VALUE), by SGD: predicts ratings, reported with RMSE and MAE.",
        [
            new("factors", 32, 1, 1024, Integer: true, Help: "length of the user and item vectors"),
            new("epochs", 20, 1, 1000, Integer: true, Help: "passes at most; early stopping on validation MSE picks the best"),
            new("learning-rate", 0.005, 1e-6, 1, Help: "SGD step"),
            new("regularization", 0.02, 0, 10, Help: "L2 penalty on factors and biases"),
        ],
        v => new RatingMfRecommender(v.Int("factors"), v.Int("epochs"), v.Float("learning-rate"), v.Float("regularization")))
    {
        EpochParameter = "epochs", LossName = "MSE", AutoCandidate = false, Serves = [ModelUses.UserRecommendations, ModelUses.PersonalizedRanking],
        Refuses = shape => shape.HasRatings ? null : "it needs explicit ratings (EVENT_VALUE), and the interactions carry none",
    };

    private readonly int _factors;
    private readonly int _epochs;
    private readonly float _learningRate;
    private readonly float _regularization;
    private float _mean;
    private float _min;
    private float _max;
    private float[] _userBias = [];
    private float[] _itemBias = [];
    private float[] _p = [];
    private float[] _q = [];

    public RatingMfRecommender(int factors = 32, int epochs = 20, float learningRate = 0.005f, float regularization = 0.02f)
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

    /// <summary>The mean training rating μ.</summary>
    public float GlobalMean => _mean;

    public override IReadOnlyDictionary<string, object> Hyperparameters => new Dictionary<string, object>
    {
        ["factors"] = _factors, ["epochs"] = _epochs, ["learning_rate"] = _learningRate, ["regularization"] = _regularization,
    };

    /// <summary>One rating per (user, item): the mean of its values, or of its weights when the data has no values.</summary>
    public override InteractionSet Prepare(InteractionSet interactions) => interactions.Ratings();

    /// <summary>Fits on a user × item matrix of ratings (every stored entry is a rating; absent entries are unknown, not zero).</summary>
    public override void Fit(CsrMatrix userItems, FitOptions options)
    {
        Users = userItems.Rows;
        Items = userItems.Columns;
        var f = _factors;
        var n = userItems.NonZeros;
        var rng = new SeededRandom(options.Seed);
        _mean = n == 0 ? 0 : (float)(userItems.Values.Sum(v => (double)v) / n);
        _min = n == 0 ? 0 : userItems.Values.Min();
        _max = n == 0 ? 0 : userItems.Values.Max();
        _userBias = new float[Users];
        _itemBias = new float[Items];
        _p = new float[Users * f];
        _q = new float[Items * f];
        for (var k = 0; k < _p.Length; k++)
            _p[k] = (float)(rng.Normal() * 0.1);
        for (var k = 0; k < _q.Length; k++)
            _q[k] = (float)(rng.Normal() * 0.1);

        var pairUser = new int[n];
        for (var u = 0; u < Users; u++)
            for (var k = userItems.RowStart[u]; k < userItems.RowStart[u + 1]; k++) pairUser[k] = u;
        var order = new int[n];
        for (var k = 0; k < n; k++)
            order[k] = k;

        BeginFit();
        (float[] Bu, float[] Bi, float[] P, float[] Q)? best = null;
        var pu = new float[f];
        float lr = _learningRate, reg = _regularization;
        for (var epoch = 1; epoch <= _epochs; epoch++)
        {
            options.Cancellation.ThrowIfCancellationRequested();
            var clock = Stopwatch.StartNew();
            rng.Shuffle(order.AsSpan());
            foreach (var pair in order)
            {
                var u = pairUser[pair];
                var i = userItems.ColumnIndex[pair];
                var p = _p.AsSpan(u * f, f);
                var q = _q.AsSpan(i * f, f);
                var e = userItems.Values[pair] - (_mean + _userBias[u] + _itemBias[i] + TensorPrimitives.Dot(p, q));
                _userBias[u] += lr * (e - reg * _userBias[u]);
                _itemBias[i] += lr * (e - reg * _itemBias[i]);
                p.CopyTo(pu);
                // p_u += η(e q_i − λ p_u); q_i += η(e p_u − λ q_i), with the p_u from before this step
                TensorPrimitives.Multiply(p, 1 - lr * reg, p);
                TensorPrimitives.MultiplyAdd(q, lr * e, p, p);
                TensorPrimitives.Multiply(q, 1 - lr * reg, q);
                TensorPrimitives.MultiplyAdd(pu, lr * e, q, q);
            }
            var seconds = clock.Elapsed.TotalSeconds;
            var trainMse = MeanSquaredError(userItems);
            double? validationMse = Validation is null ? null : MeanSquaredError(Validation);
            var ndcg = options.ValidationNdcg?.Invoke(this);
            var record = new EpochRecord(epoch, trainMse, validationMse, ndcg, seconds);
            if (!EndEpoch(record, options, () => best = ((float[])_userBias.Clone(), (float[])_itemBias.Clone(), (float[])_p.Clone(), (float[])_q.Clone()),
                    validationMse is { } mse ? -mse : ndcg))
                break;
        }
        if (best is { } b)
            (_userBias, _itemBias, _p, _q) = b;

        // Users and items with no ratings keep only their random start: predict μ (+ the other side's bias) for them instead.
        var itemRated = new bool[Items];
        foreach (var i in userItems.ColumnIndex)
            itemRated[i] = true;
        for (var u = 0; u < Users; u++)
            if (userItems.RowLength(u) == 0) _p.AsSpan(u * f, f).Clear();
        for (var i = 0; i < Items; i++)
            if (!itemRated[i]) _q.AsSpan(i * f, f).Clear();
    }

    /// <summary>Mean (r − r̂)² over the stored ratings of users and items this model knows.</summary>
    public double MeanSquaredError(CsrMatrix ratings)
    {
        double sum = 0;
        var n = 0;
        for (var u = 0; u < Math.Min(ratings.Rows, Users); u++)
        {
            var items = ratings.RowColumns(u);
            var values = ratings.RowValues(u);
            for (var k = 0; k < items.Length; k++)
            {
                if (items[k] >= Items)
                    continue;
                double e = values[k] - Raw(u, items[k]);
                sum += e * e;
                n++;
            }
        }
        return n == 0 ? 0 : sum / n;
    }

    private float Raw(int user, int item) =>
        _mean + _userBias[user] + _itemBias[item] + TensorPrimitives.Dot(_p.AsSpan(user * _factors, _factors), _q.AsSpan(item * _factors, _factors));

    /// <summary>μ + b_u + b_i + p_u·q_i clipped to the training ratings' range; unknown users or items contribute nothing.</summary>
    public float Predict(int user, int item)
    {
        var knownUser = (uint)user < (uint)Users;
        var knownItem = (uint)item < (uint)Items;
        var r = knownUser && knownItem
            ? Raw(user, item)
            : _mean + (knownUser ? _userBias[user] : 0) + (knownItem ? _itemBias[item] : 0);
        return Math.Clamp(r, _min, _max);
    }

    /// <summary>The unclipped predicted rating of every item (clipping would tie the best items at the top of the scale).</summary>
    public override void Score(int user, Span<float> scores)
    {
        var p = _p.AsSpan(user * _factors, _factors);
        var baseline = _mean + _userBias[user];
        for (var i = 0; i < Items; i++)
            scores[i] = baseline + _itemBias[i] + TensorPrimitives.Dot(p, _q.AsSpan(i * _factors, _factors));
    }

    public override int SimilarItems(int item, Span<int> items, Span<float> scores) =>
        FactorMath.CosineNeighbours(_q, _factors, item, items, scores);

    public override void Save(BinaryWriter writer)
    {
        writer.Write(Users);
        writer.Write(Items);
        writer.Write(_factors);
        writer.Write(_mean);
        writer.Write(_min);
        writer.Write(_max);
        ArrayIo.Write(writer, _userBias);
        ArrayIo.Write(writer, _itemBias);
        ArrayIo.Write(writer, _p);
        ArrayIo.Write(writer, _q);
    }

    public override void Load(BinaryReader reader)
    {
        Users = reader.ReadInt32();
        Items = reader.ReadInt32();
        var f = reader.ReadInt32();
        if (f != _factors)
            throw new InvalidDataException($"The artifact has {f} factors; this recommender was made for {_factors}.");
        _mean = reader.ReadSingle();
        _min = reader.ReadSingle();
        _max = reader.ReadSingle();
        _userBias = ArrayIo.ReadFloats(reader);
        _itemBias = ArrayIo.ReadFloats(reader);
        _p = ArrayIo.ReadFloats(reader);
        _q = ArrayIo.ReadFloats(reader);
    }
}
