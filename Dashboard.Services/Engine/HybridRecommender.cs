using System.Diagnostics;
using System.Numerics.Tensors;

namespace Recs.Services.Engine;

/// <summary>
/// hybrid: feature-aware factorisation after LightFM (Kula 2015). A user is the sum of the embeddings of its ID and
/// its attribute features (region, age band, segment), weighted by the feature values: u = e_u + Σ_f w_uf e_f; an
/// item likewise (category, brand, price band), with a bias summed the same way: v_i, b_i. x̂_ui = u·v_i + b_i.
/// Trained with the WARP loss (Weston, Bengio &amp; Usunier 2011) as LightFM does: for each observed pair (u, i),
/// in a seeded shuffled order, items j the user does not have are drawn until one violates the margin
/// (x̂_uj &gt; x̂_ui − 1) or <c>maxSampled</c> draws have failed; a violation after N draws costs
/// L = ln⌊(items − 1) / N⌋ · (1 − x̂_ui + x̂_uj), and every embedding and bias it touches takes an Adagrad step
/// (accumulators start at 1, as in LightFM) on that loss plus λ‖θ‖²/2. The epoch's training loss is the mean of L
/// over observed pairs. Early stopping on validation NDCG as the other iterative recipes. Negatives are drawn only
/// from items with some training history: an item nobody has yet (in a temporal split, mostly one not yet on sale)
/// is unknown rather than disliked. Users and items with no history keep a zero ID embedding, so they are scored
/// from their attributes alone, as brand-new ones are (<see cref="IColdStartModel"/>). Without side features the
/// model is plain ID embeddings (WARP matrix factorisation). Single-threaded, so a seed fixes the model.
/// </summary>
public sealed class HybridRecommender : Recommender, IColdStartModel
{
    public const string Name = "hybrid";

    /// <summary>hybrid in the catalogue.</summary>
    public static readonly RecipeDescriptor Descriptor = new(Name,
        "Factorisation over IDs plus attributes (LightFM-style, WARP loss): recommends for customers and products with no history from their attributes.",
        [
            new("factors", 64, 1, 1024, Integer: true, Help: "length of the embeddings") { Search = (16, 128), LogScale = true },
            new("epochs", 30, 1, 1000, Integer: true, Help: "passes at most; early stopping on validation picks the best"),
            new("learning-rate", 0.05, 1e-6, 10, Help: "Adagrad step") { Search = (0.01, 0.2), LogScale = true },
            new("regularization", 0, 0, 10, Help: "L2 penalty on the embeddings"),
            new("max-sampled", 10, 1, 1000, Integer: true, Help: "negatives tried per positive before giving up (WARP)"),
        ],
        v => new HybridRecommender(v.Int("factors"), v.Int("epochs"), v.Float("learning-rate"), v.Float("regularization"), v.Int("max-sampled")))
    {
        EpochParameter = "epochs", ColdStartFromAttributes = true,
    };

    private readonly int _factors;
    private readonly int _epochs;
    private readonly float _learningRate;
    private readonly float _regularization;
    private readonly int _maxSampled;
    private SideFeatures _features = SideFeatures.None(0, 0);

    // Parameters: rows 0..Users−1 (Items−1) are the ID features, the rest the attribute features.
    private float[] _userEmbedding = [];
    private float[] _itemEmbedding = [];
    private float[] _itemBias = [];

    // Item representations and total biases, rebuilt after training steps (for scoring).
    private float[] _itemVector = [];
    private float[] _itemTotalBias = [];

    public HybridRecommender(int factors = 64, int epochs = 30, float learningRate = 0.05f, float regularization = 0f, int maxSampled = 10)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(factors, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(epochs, 1);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(learningRate);
        ArgumentOutOfRangeException.ThrowIfNegative(regularization);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSampled, 1);
        _factors = factors;
        _epochs = epochs;
        _learningRate = learningRate;
        _regularization = regularization;
        _maxSampled = maxSampled;
    }

    public override string Recipe => Name;

    public int Factors => _factors;

    public override IReadOnlyDictionary<string, object> Hyperparameters => new Dictionary<string, object>
    {
        ["factors"] = _factors, ["epochs"] = _epochs, ["learning_rate"] = _learningRate, ["regularization"] = _regularization,
        ["max_sampled"] = _maxSampled,
    };

    public IReadOnlyList<string> UserFeatureNames => _features.UserFeatureNames;

    public IReadOnlyList<string> ItemFeatureNames => _features.ItemFeatureNames;

    public override void Fit(CsrMatrix userItems, FitOptions options)
    {
        Users = userItems.Rows;
        Items = userItems.Columns;
        _features = options.Features ?? SideFeatures.None(Users, Items);
        _features.Check(Users, Items);
        var f = _factors;
        var rng = new SeededRandom(options.Seed);
        _userEmbedding = new float[(Users + _features.UserFeatures.Columns) * f];
        _itemEmbedding = new float[(Items + _features.ItemFeatures.Columns) * f];
        _itemBias = new float[Items + _features.ItemFeatures.Columns];
        for (var k = 0; k < _userEmbedding.Length; k++)
            _userEmbedding[k] = (float)((rng.NextDouble() - 0.5) / f);
        for (var k = 0; k < _itemEmbedding.Length; k++)
            _itemEmbedding[k] = (float)((rng.NextDouble() - 0.5) / f);
        var userSquares = new float[_userEmbedding.Length];
        var itemSquares = new float[_itemEmbedding.Length];
        var biasSquares = new float[_itemBias.Length];
        Array.Fill(userSquares, 1f);
        Array.Fill(itemSquares, 1f);
        Array.Fill(biasSquares, 1f);

        var pairUser = new int[userItems.NonZeros];
        for (var u = 0; u < Users; u++)
            for (var k = userItems.RowStart[u]; k < userItems.RowStart[u + 1]; k++) pairUser[k] = u;
        var order = new int[userItems.NonZeros];
        for (var k = 0; k < order.Length; k++)
            order[k] = k;
        var hasHistory = new bool[Items];
        foreach (var i in userItems.ColumnIndex)
            hasHistory[i] = true;
        var active = Enumerable.Range(0, Items).Where(i => hasHistory[i]).ToArray();

        var user = new float[f];
        var positive = new float[f];
        var negative = new float[f];
        var gradient = new float[f];
        var scratch = new float[2 * f];
        BeginFit();
        (float[] User, float[] Item, float[] Bias)? best = null;
        for (var epoch = 1; epoch <= _epochs; epoch++)
        {
            options.Cancellation.ThrowIfCancellationRequested();
            var clock = Stopwatch.StartNew();
            rng.Shuffle(order.AsSpan());
            double lossSum = 0;
            foreach (var pair in order)
            {
                var u = pairUser[pair];
                var i = userItems.ColumnIndex[pair];
                var seen = userItems.RowColumns(u);
                if (seen.Length >= active.Length)
                    continue;
                Represent(_userEmbedding, u, Users, _features.UserFeatures, user);
                var xi = Represent(_itemEmbedding, i, Items, _features.ItemFeatures, positive, _itemBias) + TensorPrimitives.Dot(user, positive);
                int j = -1, sampled = 0;
                float xj = 0;
                while (sampled < _maxSampled)
                {
                    sampled++;
                    var candidate = active[rng.Next(active.Length)];
                    if (seen.BinarySearch(candidate) >= 0)
                        continue;
                    var x = Represent(_itemEmbedding, candidate, Items, _features.ItemFeatures, negative, _itemBias) + TensorPrimitives.Dot(user, negative);
                    if (x > xi - 1)
                    {
                        (j, xj) = (candidate, x);
                        break;
                    }
                }
                if (j < 0)
                    continue;
                var weight = MathF.Log(MathF.Max(1, MathF.Floor((active.Length - 1) / (float)sampled)));
                lossSum += weight * (1 - xi + xj);

                // ∂L/∂u = L (v_j − v_i); ∂L/∂v_i = −L u; ∂L/∂v_j = L u; ∂L/∂b_i = −L; ∂L/∂b_j = L.
                TensorPrimitives.Subtract(negative, positive, gradient);
                TensorPrimitives.Multiply(gradient, weight, gradient);
                Update(_userEmbedding, userSquares, u, Users, _features.UserFeatures, gradient, scratch);
                TensorPrimitives.Multiply(user, -weight, gradient);
                Update(_itemEmbedding, itemSquares, i, Items, _features.ItemFeatures, gradient, scratch);
                UpdateBias(biasSquares, i, -weight);
                TensorPrimitives.Negate(gradient, gradient);
                Update(_itemEmbedding, itemSquares, j, Items, _features.ItemFeatures, gradient, scratch);
                UpdateBias(biasSquares, j, weight);
            }
            var seconds = clock.Elapsed.TotalSeconds;
            RefreshItems();
            var ndcg = options.ValidationNdcg?.Invoke(this);
            var record = new EpochRecord(epoch, lossSum / Math.Max(1, order.Length), null, ndcg, seconds);
            if (!EndEpoch(record, options, () => best = ((float[])_userEmbedding.Clone(), (float[])_itemEmbedding.Clone(), (float[])_itemBias.Clone())))
                break;
        }
        if (best is { } b)
            (_userEmbedding, _itemEmbedding, _itemBias) = b;
        for (var u = 0; u < Users; u++)
            if (userItems.RowLength(u) == 0) _userEmbedding.AsSpan(u * f, f).Clear();
        for (var i = 0; i < Items; i++)
            if (!hasHistory[i]) _itemEmbedding.AsSpan(i * f, f).Clear();
        RefreshItems();
    }

    /// <summary>
    /// Writes the sum of row <paramref name="id"/>'s embedding and its weighted feature embeddings into
    /// <paramref name="vector"/>; returns the same sum of <paramref name="bias"/> (0 without).
    /// </summary>
    private float Represent(float[] embedding, int id, int ids, CsrMatrix features, Span<float> vector, float[]? bias = null)
    {
        var f = _factors;
        embedding.AsSpan(id * f, f).CopyTo(vector);
        var total = bias?[id] ?? 0;
        var columns = features.RowColumns(id);
        var weights = features.RowValues(id);
        for (var k = 0; k < columns.Length; k++)
        {
            var row = ids + columns[k];
            TensorPrimitives.MultiplyAdd(embedding.AsSpan(row * f, f), weights[k], vector, vector);
            if (bias is not null)
                total += weights[k] * bias[row];
        }
        return total;
    }

    /// <summary>Adagrad steps for every embedding row that makes up <paramref name="id"/>, given ∂L/∂(its representation).</summary>
    private void Update(float[] embedding, float[] squares, int id, int ids, CsrMatrix features, ReadOnlySpan<float> gradient, Span<float> scratch)
    {
        Step(embedding, squares, id, 1, gradient, scratch);
        var columns = features.RowColumns(id);
        var weights = features.RowValues(id);
        for (var k = 0; k < columns.Length; k++)
            Step(embedding, squares, ids + columns[k], weights[k], gradient, scratch);
    }

    // g = w ∂L/∂rep + λθ; G += g²; θ −= η g / √G.
    private void Step(float[] embedding, float[] squares, int row, float weight, ReadOnlySpan<float> gradient, Span<float> scratch)
    {
        var f = _factors;
        var theta = embedding.AsSpan(row * f, f);
        var g2 = squares.AsSpan(row * f, f);
        var step = scratch[..f];
        var root = scratch[f..];
        TensorPrimitives.Multiply(theta, _regularization, step);
        TensorPrimitives.MultiplyAdd(gradient, weight, step, step);
        TensorPrimitives.MultiplyAdd(step, step, g2, g2);
        TensorPrimitives.Sqrt(g2, root);
        TensorPrimitives.Divide(step, root, step);
        TensorPrimitives.MultiplyAdd(step, -_learningRate, theta, theta);
    }

    private void UpdateBias(float[] squares, int item, float gradient)
    {
        StepBias(squares, item, gradient);
        var columns = _features.ItemFeatures.RowColumns(item);
        var weights = _features.ItemFeatures.RowValues(item);
        for (var k = 0; k < columns.Length; k++)
            StepBias(squares, Items + columns[k], weights[k] * gradient);
    }

    private void StepBias(float[] squares, int row, float gradient)
    {
        var g = gradient + _regularization * _itemBias[row];
        squares[row] += g * g;
        _itemBias[row] -= _learningRate * g / MathF.Sqrt(squares[row]);
    }

    /// <summary>Rebuilds every item's representation and total bias from the current parameters.</summary>
    private void RefreshItems()
    {
        var f = _factors;
        _itemVector = new float[Items * f];
        _itemTotalBias = new float[Items];
        for (var i = 0; i < Items; i++)
            _itemTotalBias[i] = Represent(_itemEmbedding, i, Items, _features.ItemFeatures, _itemVector.AsSpan(i * f, f), _itemBias);
    }

    public override void Score(int user, Span<float> scores)
    {
        Span<float> u = stackalloc float[_factors];
        Represent(_userEmbedding, user, Users, _features.UserFeatures, u);
        ScoreItems(u, scores);
    }

    private void ScoreItems(ReadOnlySpan<float> user, Span<float> scores)
    {
        for (var i = 0; i < Items; i++)
            scores[i] = TensorPrimitives.Dot(user, _itemVector.AsSpan(i * _factors, _factors)) + _itemTotalBias[i];
    }

    /// <summary>Sums the embeddings of the given features (indices into the feature names; unknown ones are ignored).</summary>
    private void SumFeatures(float[] embedding, int ids, int featureCount, ReadOnlySpan<int> features, Span<float> vector, float[]? bias, out float total)
    {
        vector.Clear();
        total = 0;
        foreach (var feature in features)
        {
            if ((uint)feature >= (uint)featureCount)
                continue;
            TensorPrimitives.Add(vector, embedding.AsSpan((ids + feature) * _factors, _factors), vector);
            total += bias?[ids + feature] ?? 0;
        }
    }

    public void ScoreNewUser(ReadOnlySpan<int> userFeatures, Span<float> scores)
    {
        Span<float> u = stackalloc float[_factors];
        SumFeatures(_userEmbedding, Users, _features.UserFeatures.Columns, userFeatures, u, null, out _);
        ScoreItems(u, scores);
    }

    public void ScoreNewItem(ReadOnlySpan<int> itemFeatures, Span<float> userScores)
    {
        Span<float> v = stackalloc float[_factors];
        Span<float> u = stackalloc float[_factors];
        SumFeatures(_itemEmbedding, Items, _features.ItemFeatures.Columns, itemFeatures, v, _itemBias, out var bias);
        for (var user = 0; user < Users; user++)
        {
            Represent(_userEmbedding, user, Users, _features.UserFeatures, u);
            userScores[user] = TensorPrimitives.Dot(u, v) + bias;
        }
    }

    /// <summary>Cosine similarity of the items' representations (ID plus attributes).</summary>
    public override int SimilarItems(int item, Span<int> items, Span<float> scores) =>
        FactorMath.CosineNeighbours(_itemVector, _factors, item, items, scores);

    public override void Save(BinaryWriter writer)
    {
        writer.Write(Users);
        writer.Write(Items);
        writer.Write(_factors);
        WriteFeatures(writer, _features.UserFeatures, _features.UserFeatureNames);
        WriteFeatures(writer, _features.ItemFeatures, _features.ItemFeatureNames);
        ArrayIo.Write(writer, _userEmbedding);
        ArrayIo.Write(writer, _itemEmbedding);
        ArrayIo.Write(writer, _itemBias);
    }

    public override void Load(BinaryReader reader)
    {
        Users = reader.ReadInt32();
        Items = reader.ReadInt32();
        var f = reader.ReadInt32();
        if (f != _factors)
            throw new InvalidDataException($"The artifact has {f} factors; this recommender was made for {_factors}.");
        var (userFeatures, userNames) = ReadFeatures(reader);
        var (itemFeatures, itemNames) = ReadFeatures(reader);
        _features = new SideFeatures(userFeatures, itemFeatures, userNames, itemNames);
        _features.Check(Users, Items);
        _userEmbedding = ArrayIo.ReadFloats(reader);
        _itemEmbedding = ArrayIo.ReadFloats(reader);
        _itemBias = ArrayIo.ReadFloats(reader);
        RefreshItems();
    }

    private static void WriteFeatures(BinaryWriter writer, CsrMatrix matrix, string[] names)
    {
        writer.Write(matrix.Rows);
        ArrayIo.Write(writer, matrix.RowStart);
        ArrayIo.Write(writer, matrix.ColumnIndex);
        ArrayIo.Write(writer, matrix.Values);
        writer.Write(names.Length);
        foreach (var name in names)
            writer.Write(name);
    }

    private static (CsrMatrix Matrix, string[] Names) ReadFeatures(BinaryReader reader)
    {
        var rows = reader.ReadInt32();
        var rowStart = ArrayIo.ReadInts(reader);
        var columns = ArrayIo.ReadInts(reader);
        var values = ArrayIo.ReadFloats(reader);
        var names = new string[reader.ReadInt32()];
        for (var k = 0; k < names.Length; k++)
            names[k] = reader.ReadString();
        return (new CsrMatrix(rows, names.Length, rowStart, columns, values), names);
    }
}
