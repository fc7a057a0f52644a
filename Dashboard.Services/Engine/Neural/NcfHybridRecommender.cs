using System.Diagnostics;
using System.Numerics.Tensors;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace Recs.Services.Engine.Neural;

/// <summary>
/// ncf-hybrid: the seeds' neural collaborative filter with content features, as their model guide gives it. A pair
/// (user, item) is [user embedding (50); item embedding (50); user features; item features] → MLP 128-64-32 (ReLU,
/// dropout 0.2 after each) → one logit; trained on observed pairs against 4 sampled negatives per positive with binary
/// cross-entropy, Adam (10⁻³), batch 256, early stopping with patience 5 on validation NDCG@10 and ReduceLROnPlateau
/// (halve the step after 2 epochs without a better validation loss).
/// Content branch: the attributes Recs has (each a feature column of <see cref="SideFeatures"/>: region, age band,
/// segment; category, brand, price band) plus what the history says: a user's purchase count and frequency, average
/// price band, favourite category and recency; an item's popularity and recency. A user or item with no history is
/// scored from its features alone (embedding = the mean embedding), so cold start works for both.
/// Trained with TorchSharp on both cores; served from plain arrays: the first layer is split into a user part and an
/// item part computed once per user and item, so scoring a user is two small dense layers per item.
/// Determinism: our generator draws the initial weights, the negatives and the batches; dropout's masks come from
/// libtorch's generator, seeded at the start of the fit (fits run one at a time), so a seed fixes the model.
/// </summary>
public sealed class NcfHybridRecommender : Recommender, IColdStartModel
{
    public const string Name = "ncf-hybrid";

    /// <summary>ncf-hybrid in the catalogue.</summary>
    public static readonly RecipeDescriptor Descriptor = new(Name,
        "Neural collaborative filtering with content features (the seeds' hybrid NCF: embeddings 50, MLP 128-64-32), trained with TorchSharp.",
        [
            new("embedding", 50, 4, 512, Integer: true, Help: "length of the user and item embeddings") { Search = (16, 128), LogScale = true },
            new("dropout", 0.2, 0, 0.9, Help: "dropout after each hidden layer") { Search = (0, 0.5) },
            new("learning-rate", 0.001, 1e-6, 1, Help: "Adam step (halved on a validation plateau)") { Search = (3e-4, 3e-3), LogScale = true },
            new("negatives", 4, 1, 50, Integer: true, Help: "sampled negatives per observed pair"),
            new("batch-size", 256, 8, 65_536, Integer: true, Help: "pairs per step"),
            new("weight-decay", 0, 0, 1, Help: "Adam's L2 penalty") { Search = (1e-7, 1e-4), LogScale = true },
            new("epochs", 50, 1, 10_000, Integer: true, Help: "passes at most; early stopping on validation picks the best"),
        ],
        v => new NcfHybridRecommender(v.Int("embedding"), v.Float("dropout"), v.Float("learning-rate"), v.Int("negatives"), v.Int("batch-size"),
            v.Float("weight-decay"), v.Int("epochs")))
    {
        EpochParameter = "epochs",
        // Not yet among auto's candidates: auto's budget has no estimate of a neural fit's time (first start must stay under 2 minutes).
        AutoCandidate = false,
        ColdStartFromAttributes = true,
        Refuses = shape => shape.Users < 10 ? "ncf-hybrid needs at least 10 users with history" : null,
    };

    private static readonly int[] Hidden = [128, 64, 32];

    private readonly int _embedding;
    private readonly float _dropout;
    private readonly float _learningRate;
    private readonly int _negatives;
    private readonly int _batchSize;
    private readonly float _weightDecay;
    private readonly int _epochs;

    private long[]? _userLast;
    private long[]? _itemLast;
    private SideFeatures? _features;

    // Serving arrays: first layer's user and item parts (bias in the item part), layers 2–4, and what cold start needs.
    private float[] _userPart = [];
    private float[] _itemPart = [];
    private float[] _w2 = [], _b2 = [], _w3 = [], _b3 = [], _w4 = [];
    private float _b4;
    private float[] _coldUserPart = [];
    private float[] _coldItemPart = [];
    private float[] _userFeatureWeights = []; // [128 × user feature columns], for new users' one-hot attributes
    private float[] _itemFeatureWeights = [];
    private string[] _userFeatureNames = [];
    private string[] _itemFeatureNames = [];
    private float[] _itemEmbedding = [];

    public NcfHybridRecommender(int embedding = 50, float dropout = 0.2f, float learningRate = 0.001f, int negatives = 4, int batchSize = 256,
        float weightDecay = 0, int epochs = 50)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(embedding, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(dropout);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(dropout, 1f);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(learningRate);
        ArgumentOutOfRangeException.ThrowIfLessThan(negatives, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(weightDecay);
        ArgumentOutOfRangeException.ThrowIfLessThan(epochs, 1);
        (_embedding, _dropout, _learningRate, _negatives, _batchSize, _weightDecay, _epochs) = (embedding, dropout, learningRate, negatives, batchSize, weightDecay, epochs);
    }

    public override string Recipe => Name;

    public override IReadOnlyDictionary<string, object> Hyperparameters => new Dictionary<string, object>
    {
        ["embedding"] = _embedding, ["dropout"] = _dropout, ["learning_rate"] = _learningRate, ["negatives"] = _negatives,
        ["batch_size"] = _batchSize, ["weight_decay"] = _weightDecay, ["epochs"] = _epochs,
    };

    public IReadOnlyList<string> UserFeatureNames => _userFeatureNames;

    public IReadOnlyList<string> ItemFeatureNames => _itemFeatureNames;

    /// <summary>Keeps each user's and item's last interaction time for the recency features.</summary>
    public override InteractionSet Prepare(InteractionSet interactions)
    {
        _userLast = new long[interactions.Users];
        _itemLast = new long[interactions.Items];
        Array.Fill(_userLast, long.MinValue);
        Array.Fill(_itemLast, long.MinValue);
        for (var k = 0; k < interactions.Count; k++)
        {
            var t = interactions.Time[k];
            _userLast[interactions.User[k]] = Math.Max(_userLast[interactions.User[k]], t);
            _itemLast[interactions.Item[k]] = Math.Max(_itemLast[interactions.Item[k]], t);
        }
        return interactions;
    }

    public override void Fit(CsrMatrix userItems, FitOptions options)
    {
        options.Cancellation.ThrowIfCancellationRequested();
        Users = userItems.Rows;
        Items = userItems.Columns;
        _features = options.Features ?? SideFeatures.None(Users, Items);
        _features.Check(Users, Items);
        _userFeatureNames = _features.UserFeatureNames;
        _itemFeatureNames = _features.ItemFeatureNames;
        var (userX, itemX) = ContentFeatures.Build(userItems, _features, Times(_userLast, Users), Times(_itemLast, Items));
        NeuralTraining.Seeded(options.Seed, () => FitLocked(userItems, options, userX, itemX));
    }

    private static long[]? Times(long[]? last, int count) => last is not null && last.Length == count ? last : null;

    private void FitLocked(CsrMatrix userItems, FitOptions options, ContentFeatures.Matrix userX, ContentFeatures.Matrix itemX)
    {
        var rng = new SeededRandom(options.Seed);
        var input = 2 * _embedding + userX.Columns + itemX.Columns;
        using var userEmbedding = nn.Embedding(Users, _embedding);
        using var itemEmbedding = nn.Embedding(Items, _embedding);
        using var layer1 = nn.Linear(input, Hidden[0]);
        using var layer2 = nn.Linear(Hidden[0], Hidden[1]);
        using var layer3 = nn.Linear(Hidden[1], Hidden[2]);
        using var layer4 = nn.Linear(Hidden[2], 1);
        using var dropout = nn.Dropout(_dropout);
        TorchRuntime.Assign(userEmbedding.weight!, NeuralTraining.Normals(Users * _embedding, 0.05, rng));
        TorchRuntime.Assign(itemEmbedding.weight!, NeuralTraining.Normals(Items * _embedding, 0.05, rng));
        foreach (var layer in new[] { layer1, layer2, layer3, layer4 })
            TorchRuntime.Initialise(layer, rng);
        using var userFeatures = tensor(userX.Values, [Users, userX.Columns]);
        using var itemFeatures = tensor(itemX.Values, [Items, itemX.Columns]);
        var parameters = userEmbedding.parameters().Concat(itemEmbedding.parameters()).Concat(layer1.parameters()).Concat(layer2.parameters())
            .Concat(layer3.parameters()).Concat(layer4.parameters()).ToList();
        using var optimizer = optim.Adam(parameters, lr: _learningRate, weight_decay: _weightDecay);
        var learningRate = (double)_learningRate;
        var bestValidationLoss = double.PositiveInfinity;
        var plateau = 0;

        Tensor Logits(Tensor users, Tensor items)
        {
            var x = cat([userEmbedding.forward(users), itemEmbedding.forward(items), userFeatures.index_select(0, users), itemFeatures.index_select(0, items)], 1);
            x = dropout.forward(layer1.forward(x).relu());
            x = dropout.forward(layer2.forward(x).relu());
            x = dropout.forward(layer3.forward(x).relu());
            return layer4.forward(x).squeeze(1);
        }

        var positives = userItems.NonZeros;
        var pairUser = new int[positives];
        for (var u = 0; u < Users; u++)
            for (var k = userItems.RowStart[u]; k < userItems.RowStart[u + 1]; k++) pairUser[k] = u;
        var samples = positives * (1 + _negatives);
        var sampleUser = new long[samples];
        var sampleItem = new long[samples];
        var sampleLabel = new float[samples];
        var order = new int[samples];
        BeginFit();
        Snapshot? best = null;
        for (var epoch = 1; epoch <= _epochs; epoch++)
        {
            var clock = Stopwatch.StartNew();
            // Every observed pair and, for each, fresh negatives: items the user has not had.
            var n = 0;
            for (var k = 0; k < positives; k++)
            {
                var u = pairUser[k];
                (sampleUser[n], sampleItem[n], sampleLabel[n]) = (u, userItems.ColumnIndex[k], 1f);
                n++;
                for (var j = 0; j < _negatives; j++)
                {
                    (sampleUser[n], sampleItem[n], sampleLabel[n]) = (u, NeuralTraining.Negative(userItems, u, rng), 0f);
                    n++;
                }
            }
            for (var k = 0; k < samples; k++)
                order[k] = k;
            rng.Shuffle(order.AsSpan());
            layer1.train();
            dropout.train();
            double lossSum = 0;
            var batchUsers = new long[_batchSize];
            var batchItems = new long[_batchSize];
            var batchLabels = new float[_batchSize];
            for (var start = 0; start < samples; start += _batchSize)
            {
                options.Cancellation.ThrowIfCancellationRequested();
                var size = Math.Min(_batchSize, samples - start);
                for (var b = 0; b < size; b++)
                {
                    var s = order[start + b];
                    (batchUsers[b], batchItems[b], batchLabels[b]) = (sampleUser[s], sampleItem[s], sampleLabel[s]);
                }
                using var scope = NewDisposeScope();
                var users = tensor(batchUsers.AsSpan(0, size).ToArray(), [size]);
                var items = tensor(batchItems.AsSpan(0, size).ToArray(), [size]);
                var labels = tensor(batchLabels.AsSpan(0, size).ToArray(), [size]);
                var loss = nn.functional.binary_cross_entropy_with_logits(Logits(users, items), labels);
                optimizer.zero_grad();
                loss.backward();
                optimizer.step();
                lossSum += loss.item<float>() * size;
            }
            dropout.eval();
            Export(userEmbedding, itemEmbedding, layer1, layer2, layer3, layer4, userX, itemX);
            var seconds = clock.Elapsed.TotalSeconds;
            double? validationLoss = null;
            if (Validation is not null)
            {
                validationLoss = ValidationLoss(Validation, userItems, options.Seed);
                // ReduceLROnPlateau (patience 2, factor 0.5) on the validation loss.
                if (validationLoss < bestValidationLoss - 1e-6)
                    (bestValidationLoss, plateau) = (validationLoss.Value, 0);
                else if (++plateau > 2)
                {
                    learningRate *= 0.5;
                    foreach (var group in optimizer.ParamGroups)
                        group.LearningRate = learningRate;
                    plateau = 0;
                }
            }
            var ndcg = options.ValidationNdcg?.Invoke(this);
            var record = new EpochRecord(epoch, lossSum / samples, validationLoss, ndcg, seconds);
            if (!EndEpoch(record, options, () => best = new Snapshot(this)))
                break;
        }
        best?.Restore(this);
    }

    /// <summary>Splits the trained network into the serving arrays.</summary>
    private void Export(Embedding userEmbedding, Embedding itemEmbedding, Linear layer1, Linear layer2, Linear layer3, Linear layer4,
        ContentFeatures.Matrix userX, ContentFeatures.Matrix itemX)
    {
        var e = _embedding;
        var input = 2 * e + userX.Columns + itemX.Columns;
        var w1 = TorchRuntime.ToArray(layer1.weight!);
        var b1 = TorchRuntime.ToArray(layer1.bias!);
        var users = TorchRuntime.ToArray(userEmbedding.weight!);
        var items = TorchRuntime.ToArray(itemEmbedding.weight!);
        var h = Hidden[0];
        // Column blocks of W1: [0, e) user embedding, [e, 2e) item embedding, then user features, then item features.
        float[] Part(float[] embedding, int count, int embeddingColumn, ContentFeatures.Matrix x, int featureColumn, float[]? bias)
        {
            var part = new float[count * h];
            for (var r = 0; r < count; r++)
            {
                var emb = embedding.AsSpan(r * e, e);
                var feat = x.Values.AsSpan(r * x.Columns, x.Columns);
                for (var j = 0; j < h; j++)
                {
                    var row = w1.AsSpan(j * input, input);
                    part[r * h + j] = TensorPrimitives.Dot(row.Slice(embeddingColumn, e), emb) + TensorPrimitives.Dot(row.Slice(featureColumn, x.Columns), feat) + (bias?[j] ?? 0);
                }
            }
            return part;
        }
        _userPart = Part(users, Users, 0, userX, 2 * e, null);
        _itemPart = Part(items, Items, e, itemX, 2 * e + userX.Columns, b1);
        // Cold start: the mean embedding with the new one's attribute columns (the derived history features are 0).
        var meanUser = Mean(users, Users, e);
        var meanItem = Mean(items, Items, e);
        _coldUserPart = new float[h];
        _coldItemPart = new float[h];
        _userFeatureWeights = new float[h * _userFeatureNames.Length];
        _itemFeatureWeights = new float[h * _itemFeatureNames.Length];
        for (var j = 0; j < h; j++)
        {
            var row = w1.AsSpan(j * input, input);
            _coldUserPart[j] = TensorPrimitives.Dot(row.Slice(0, e), meanUser);
            _coldItemPart[j] = TensorPrimitives.Dot(row.Slice(e, e), meanItem) + b1[j];
            row.Slice(2 * e, _userFeatureNames.Length).CopyTo(_userFeatureWeights.AsSpan(j * _userFeatureNames.Length));
            row.Slice(2 * e + userX.Columns, _itemFeatureNames.Length).CopyTo(_itemFeatureWeights.AsSpan(j * _itemFeatureNames.Length));
        }
        _itemEmbedding = items;
        _w2 = TorchRuntime.ToArray(layer2.weight!);
        _b2 = TorchRuntime.ToArray(layer2.bias!);
        _w3 = TorchRuntime.ToArray(layer3.weight!);
        _b3 = TorchRuntime.ToArray(layer3.bias!);
        _w4 = TorchRuntime.ToArray(layer4.weight!);
        _b4 = TorchRuntime.ToArray(layer4.bias!)[0];
    }

    private static float[] Mean(float[] rows, int count, int width)
    {
        var mean = new float[width];
        for (var r = 0; r < count; r++)
            TensorPrimitives.Add(mean, rows.AsSpan(r * width, width), mean);
        TensorPrimitives.Divide(mean, Math.Max(1, count), mean);
        return mean;
    }

    /// <summary>Mean binary cross-entropy over validation pairs and as many negatives each, drawn from a fixed seed (comparable across epochs).</summary>
    private double ValidationLoss(CsrMatrix validation, CsrMatrix train, ulong seed)
    {
        var rng = new SeededRandom(seed ^ 0x5EEDUL);
        double sum = 0;
        var n = 0;
        var scratch = new Scratch();
        for (var u = 0; u < Math.Min(validation.Rows, Users); u++)
        {
            foreach (var i in validation.RowColumns(u))
            {
                if (i >= Items)
                    continue;
                sum += NeuralTraining.Softplus(-Pair(_userPart.AsSpan(u * Hidden[0], Hidden[0]), _itemPart.AsSpan(i * Hidden[0], Hidden[0]), scratch));
                for (var j = 0; j < _negatives; j++)
                    sum += NeuralTraining.Softplus(Pair(_userPart.AsSpan(u * Hidden[0], Hidden[0]), _itemPart.AsSpan(NeuralTraining.Negative(train, u, rng) * Hidden[0], Hidden[0]), scratch));
                n += 1 + _negatives;
            }
        }
        return n == 0 ? 0 : sum / n;
    }

    private sealed class Scratch
    {
        public readonly float[] H1 = new float[Hidden[0]];
        public readonly float[] H2 = new float[Hidden[1]];
        public readonly float[] H3 = new float[Hidden[2]];
    }

    /// <summary>The logit of one pair from its first-layer parts: ReLU layers 2–3, then the output.</summary>
    private float Pair(ReadOnlySpan<float> userPart, ReadOnlySpan<float> itemPart, Scratch s)
    {
        TensorPrimitives.Add(userPart, itemPart, s.H1);
        TensorPrimitives.Max(s.H1, 0f, s.H1);
        for (var j = 0; j < Hidden[1]; j++)
            s.H2[j] = Math.Max(0f, TensorPrimitives.Dot(_w2.AsSpan(j * Hidden[0], Hidden[0]), s.H1) + _b2[j]);
        for (var j = 0; j < Hidden[2]; j++)
            s.H3[j] = Math.Max(0f, TensorPrimitives.Dot(_w3.AsSpan(j * Hidden[1], Hidden[1]), s.H2) + _b3[j]);
        return TensorPrimitives.Dot(_w4, s.H3) + _b4;
    }

    public override void Score(int user, Span<float> scores)
    {
        var h = Hidden[0];
        var userPart = user < Users ? _userPart.AsSpan(user * h, h) : _coldUserPart;
        var scratch = new Scratch();
        for (var i = 0; i < Items; i++)
            scores[i] = Pair(userPart, _itemPart.AsSpan(i * h, h), scratch);
    }

    public void ScoreNewUser(ReadOnlySpan<int> userFeatures, Span<float> scores)
    {
        var h = Hidden[0];
        var part = (float[])_coldUserPart.Clone();
        var columns = _userFeatureNames.Length;
        foreach (var f in userFeatures)
        {
            if ((uint)f >= (uint)columns)
                continue;
            for (var j = 0; j < h; j++)
                part[j] += _userFeatureWeights[j * columns + f];
        }
        var scratch = new Scratch();
        for (var i = 0; i < Items; i++)
            scores[i] = Pair(part, _itemPart.AsSpan(i * h, h), scratch);
    }

    public void ScoreNewItem(ReadOnlySpan<int> itemFeatures, Span<float> userScores)
    {
        var h = Hidden[0];
        var part = (float[])_coldItemPart.Clone();
        var columns = _itemFeatureNames.Length;
        foreach (var f in itemFeatures)
        {
            if ((uint)f >= (uint)columns)
                continue;
            for (var j = 0; j < h; j++)
                part[j] += _itemFeatureWeights[j * columns + f];
        }
        var scratch = new Scratch();
        for (var u = 0; u < Users; u++)
            userScores[u] = Pair(_userPart.AsSpan(u * h, h), part, scratch);
    }

    /// <summary>Items whose learned embeddings point the same way.</summary>
    public override int SimilarItems(int item, Span<int> items, Span<float> scores) =>
        FactorMath.CosineNeighbours(_itemEmbedding, _embedding, item, items, scores);

    private sealed class Snapshot(NcfHybridRecommender m)
    {
        private readonly float[][] _arrays = [m._userPart, m._itemPart, m._w2, m._b2, m._w3, m._b3, m._w4, m._coldUserPart, m._coldItemPart,
            m._userFeatureWeights, m._itemFeatureWeights, m._itemEmbedding];
        private readonly float _b4 = m._b4;

        public void Restore(NcfHybridRecommender m)
        {
            (m._userPart, m._itemPart, m._w2, m._b2, m._w3, m._b3, m._w4, m._coldUserPart, m._coldItemPart) =
                (_arrays[0], _arrays[1], _arrays[2], _arrays[3], _arrays[4], _arrays[5], _arrays[6], _arrays[7], _arrays[8]);
            (m._userFeatureWeights, m._itemFeatureWeights, m._itemEmbedding, m._b4) = (_arrays[9], _arrays[10], _arrays[11], _b4);
        }
    }

    public override void Save(BinaryWriter writer)
    {
        writer.Write(Users);
        writer.Write(Items);
        writer.Write(_embedding);
        foreach (var array in new[] { _userPart, _itemPart, _w2, _b2, _w3, _b3, _w4, _coldUserPart, _coldItemPart, _userFeatureWeights, _itemFeatureWeights, _itemEmbedding })
            ArrayIo.Write(writer, array);
        writer.Write(_b4);
        WriteNames(writer, _userFeatureNames);
        WriteNames(writer, _itemFeatureNames);
    }

    public override void Load(BinaryReader reader)
    {
        Users = reader.ReadInt32();
        Items = reader.ReadInt32();
        var e = reader.ReadInt32();
        if (e != _embedding)
            throw new InvalidDataException($"The artifact has embeddings of {e}; this recommender was made for {_embedding}.");
        _userPart = ArrayIo.ReadFloats(reader);
        _itemPart = ArrayIo.ReadFloats(reader);
        _w2 = ArrayIo.ReadFloats(reader);
        _b2 = ArrayIo.ReadFloats(reader);
        _w3 = ArrayIo.ReadFloats(reader);
        _b3 = ArrayIo.ReadFloats(reader);
        _w4 = ArrayIo.ReadFloats(reader);
        _coldUserPart = ArrayIo.ReadFloats(reader);
        _coldItemPart = ArrayIo.ReadFloats(reader);
        _userFeatureWeights = ArrayIo.ReadFloats(reader);
        _itemFeatureWeights = ArrayIo.ReadFloats(reader);
        _itemEmbedding = ArrayIo.ReadFloats(reader);
        _b4 = reader.ReadSingle();
        _userFeatureNames = ReadNames(reader);
        _itemFeatureNames = ReadNames(reader);
    }

    private static void WriteNames(BinaryWriter writer, string[] names)
    {
        writer.Write(names.Length);
        foreach (var name in names)
            writer.Write(name);
    }

    private static string[] ReadNames(BinaryReader reader)
    {
        var names = new string[reader.ReadInt32()];
        for (var k = 0; k < names.Length; k++)
            names[k] = reader.ReadString();
        return names;
    }
}
