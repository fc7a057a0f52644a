using System.Collections.Concurrent;
using System.Diagnostics;
using System.Numerics.Tensors;
using TorchSharp;
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
/// Trained with TorchSharp on both cores: libtorch runs the steps on one thread while the other draws the next batches
/// (negatives, shuffle, dropout masks). A step is ~60 small operations, so its cost is mostly per operation: the four
/// layers are one flat parameter (one Adam update, one split in the backward pass), the embedding tables are trained by
/// lazy Adam on the rows a batch used (<see cref="LazyAdamTable"/>; dense Adam would rewrite all 400 k embedding values
/// at every step), and dropout multiplies by masks we draw (libtorch's Bernoulli sampling cost 0.25 ms a layer).
/// Measured on Online Retail (266 k pairs, 5,200 steps an epoch): 24 s an epoch before, 11 s after.
/// Served from plain arrays: the first layer is split into a user part and an item part computed once per user and
/// item, so scoring a user is two small dense layers per item.
/// Determinism: our generator draws the initial weights, the negatives, the batches and the dropout masks, in one
/// fixed order whatever the threads' timing, and libtorch runs on one thread, so a seed fixes the model bit for bit
/// on a given machine (MKL in its reproducible mode).
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
        LossName = "binary cross-entropy",
        // A trial at the defaults, measured (bench --parts ncf-hybrid): 75 k interactions, 15 epochs with their validation, 50 s.
        AutoLeavesOut = NeuralTraining.AutoGate(shape => 7e-4 * shape.Interactions),
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
        // One libtorch thread (a 256-pair step is ~60 small operations: measured 11 s per Online Retail epoch on one
        // thread, 17 s on two); the other core draws the batches.
        NeuralTraining.Seeded(options.Seed, () => FitLocked(userItems, options, userX, itemX), intraOpThreads: 1);
    }

    private static long[]? Times(long[]? last, int count) => last is not null && last.Length == count ? last : null;

    private void FitLocked(CsrMatrix userItems, FitOptions options, ContentFeatures.Matrix userX, ContentFeatures.Matrix itemX)
    {
        var rng = new SeededRandom(options.Seed);
        var e = _embedding;
        var layout = new Layout(2 * e + userX.Columns + itemX.Columns);
        // One table for users (rows 0..Users) and items (rows Users..): a step gathers and updates both at once, by lazy
        // Adam (the rows the batch used). The four layers live in one flat tensor, so Adam updates them in one pass too.
        var embeddings = new LazyAdamTable([.. NeuralTraining.Normals(Users * e, 0.05, rng), .. NeuralTraining.Normals(Items * e, 0.05, rng)],
            e, _learningRate, _weightDecay);
        using var weights = new TorchSharp.Modules.Parameter(tensor(layout.Initial(rng), [layout.Size]));
        using var optimizer = new AdamOptimizer([weights], _learningRate, _weightDecay);
        using var userFeatures = tensor(userX.Values, [Users, userX.Columns]);
        using var itemFeatures = tensor(itemX.Values, [Items, itemX.Columns]);
        var learningRate = (double)_learningRate;
        var bestValidationLoss = double.PositiveInfinity;
        var plateau = 0;
        var maskWidth = Hidden.Sum();
        using var maskScale = (1 / (1 - _dropout)).ToScalar();
        var gradient = Array.Empty<float>();

        // Batches are drawn on the other core while this one trains: negatives, shuffle, row lookups and dropout masks,
        // all from our seeded generator in a fixed order, so the overlap changes the speed and never the model.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(options.Cancellation);
        using var queue = new BlockingCollection<Batch>(boundedCapacity: 64);
        var producer = Task.Run(() => Produce(userItems, rng, queue, stop.Token), CancellationToken.None);
        BeginFit();
        Snapshot? best = null;
        try
        {
            using var mlp = NewDisposeScope();
            var batches = queue.GetConsumingEnumerable(stop.Token).GetEnumerator();
            for (var epoch = 1; epoch <= _epochs; epoch++)
            {
                var clock = Stopwatch.StartNew();
                double lossSum = 0;
                long samples = 0;
                while (true)
                {
                    if (!batches.MoveNext())
                    {
                        producer.GetAwaiter().GetResult(); // the producer's own failure, if it had one
                        options.Cancellation.ThrowIfCancellationRequested();
                        throw new InvalidOperationException($"The batches of epoch {epoch} ended early.");
                    }
                    var batch = batches.Current;
                    options.Cancellation.ThrowIfCancellationRequested();
                    using var scope = NewDisposeScope();
                    var size = batch.Labels.Length;
                    var input = tensor(embeddings.Gather(batch.Ids), [size, 2 * e]).requires_grad_(true);
                    var parts = layout.Split(weights);
                    var x = cat([input, userFeatures.index_select(0, tensor(batch.Users)), itemFeatures.index_select(0, tensor(batch.Items))], 1);
                    var masks = batch.Masks is { } m ? tensor(m, [size, maskWidth]).to_type(ScalarType.Float32).mul_(maskScale) : null;
                    var column = 0;
                    for (var layer = 0; layer < Hidden.Length; layer++)
                    {
                        x = nn.functional.linear(x, parts[2 * layer], parts[2 * layer + 1]).relu_();
                        if (masks is not null)
                            x = x.mul(masks.narrow(1, column, Hidden[layer]));
                        column += Hidden[layer];
                    }
                    var logits = nn.functional.linear(x, parts[2 * Hidden.Length], parts[2 * Hidden.Length + 1]).view(size);
                    var loss = nn.functional.binary_cross_entropy_with_logits(logits, tensor(batch.Labels));
                    optimizer.ZeroGrad();
                    loss.backward();
                    optimizer.Step();
                    if (gradient.Length != batch.Ids.Length * e)
                        gradient = new float[batch.Ids.Length * e];
                    TorchRuntime.CopyTo(input.grad!, gradient);
                    embeddings.Step(batch.Rows, batch.Lookup, gradient);
                    lossSum += loss.item<float>() * size;
                    samples += size;
                    if (batch.Last)
                        break;
                }
                options.Cancellation.ThrowIfCancellationRequested();
                Export(embeddings, weights, layout, userX, itemX);
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
                        optimizer.LearningRate = learningRate;
                        embeddings.LearningRate = learningRate;
                        plateau = 0;
                    }
                }
                var ndcg = options.ValidationNdcg?.Invoke(this);
                var record = new EpochRecord(epoch, lossSum / Math.Max(1, samples), validationLoss, ndcg, seconds);
                if (!EndEpoch(record, options, () => best = new Snapshot(this)))
                    break;
            }
        }
        finally
        {
            stop.Cancel();
            try
            {
                producer.Wait(CancellationToken.None);
            }
            catch (AggregateException) when (producer.IsCanceled || options.Cancellation.IsCancellationRequested)
            {
            }
        }
        best?.Restore(this);
    }

    /// <summary>One step's pairs: each pair's user and item rows of the table (items after the users), the distinct rows and where each lookup sits among them, features' rows, labels, and dropout masks.</summary>
    private sealed record Batch(int Epoch, bool Last, long[] Ids, long[] Rows, long[] Lookup, long[] Users, long[] Items, float[] Labels, byte[]? Masks);

    /// <summary>Every epoch's batches in order: each observed pair with fresh negatives (items the user has not had), shuffled.</summary>
    private void Produce(CsrMatrix userItems, SeededRandom rng, BlockingCollection<Batch> queue, CancellationToken cancellation)
    {
        try
        {
            var positives = userItems.NonZeros;
            var pairUser = new int[positives];
            for (var u = 0; u < Users; u++)
                for (var k = userItems.RowStart[u]; k < userItems.RowStart[u + 1]; k++) pairUser[k] = u;
            var samples = positives * (1 + _negatives);
            var sampleUser = new int[samples];
            var sampleItem = new int[samples];
            var order = new int[samples];
            var distinct = new LazyAdamTable.Distinct(Users + Items);
            var maskWidth = Hidden.Sum();
            var keep = 1 - _dropout;
            var threshold = (ulong)(keep * (1UL << 32));
            for (var epoch = 1; epoch <= _epochs; epoch++)
            {
                var n = 0;
                for (var k = 0; k < positives; k++)
                {
                    var u = pairUser[k];
                    (sampleUser[n], sampleItem[n]) = (u, userItems.ColumnIndex[k]);
                    n++;
                    for (var j = 0; j < _negatives; j++)
                    {
                        (sampleUser[n], sampleItem[n]) = (u, ~NeuralTraining.Negative(userItems, u, rng));
                        n++;
                    }
                }
                for (var k = 0; k < samples; k++)
                    order[k] = k;
                rng.Shuffle(order.AsSpan());
                for (var start = 0; start < samples; start += _batchSize)
                {
                    var size = Math.Min(_batchSize, samples - start);
                    var users = new long[size];
                    var items = new long[size];
                    var labels = new float[size];
                    var ids = new long[2 * size];
                    for (var b = 0; b < size; b++)
                    {
                        var s = order[start + b];
                        var item = sampleItem[s];
                        (labels[b], item) = item >= 0 ? (1f, item) : (0f, ~item);
                        (users[b], items[b]) = (sampleUser[s], item);
                        (ids[2 * b], ids[2 * b + 1]) = (sampleUser[s], Users + item);
                    }
                    byte[]? masks = null;
                    if (_dropout > 0)
                    {
                        // Which units this step keeps (1) or drops (0); kept ones are scaled by 1 / (1 − p) on the way in.
                        masks = new byte[size * maskWidth];
                        for (var k = 0; k < masks.Length; k += 2)
                        {
                            var r = rng.NextULong();
                            masks[k] = (r & 0xFFFF_FFFF) < threshold ? (byte)1 : (byte)0;
                            if (k + 1 < masks.Length)
                                masks[k + 1] = (r >> 32) < threshold ? (byte)1 : (byte)0;
                        }
                    }
                    var (rows, lookup) = distinct.Of(ids);
                    queue.Add(new Batch(epoch, start + _batchSize >= samples, ids, rows, lookup, users, items, labels, masks), cancellation);
                }
            }
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
        }
        finally
        {
            queue.CompleteAdding();
        }
    }

    /// <summary>Where each layer's weights [out × in] and bias [out] sit in the one flat parameter.</summary>
    private sealed class Layout
    {
        private readonly (int Rows, int Columns, int Offset)[] _layers;

        public Layout(int input)
        {
            int[] widths = [input, .. Hidden, 1];
            _layers = new (int, int, int)[widths.Length - 1];
            var offset = 0;
            for (var k = 0; k < _layers.Length; k++)
            {
                _layers[k] = (widths[k + 1], widths[k], offset);
                offset += widths[k + 1] * (widths[k] + 1);
            }
            Size = offset;
        }

        public int Size { get; }

        /// <summary>Weight, bias, weight, bias... as views of <paramref name="flat"/> (one split: one node in the backward pass).</summary>
        public Tensor[] Split(Tensor flat)
        {
            var parts = flat.split([.. _layers.SelectMany(l => new long[] { l.Rows * l.Columns, l.Rows })]);
            for (var k = 0; k < _layers.Length; k++)
                parts[2 * k] = parts[2 * k].view(_layers[k].Rows, _layers[k].Columns);
            return parts;
        }

        public float[] Weight(float[] flat, int layer) =>
            flat.AsSpan(_layers[layer].Offset, _layers[layer].Rows * _layers[layer].Columns).ToArray();

        public float[] Bias(float[] flat, int layer) =>
            flat.AsSpan(_layers[layer].Offset + _layers[layer].Rows * _layers[layer].Columns, _layers[layer].Rows).ToArray();

        /// <summary>Glorot-uniform weights and zero biases, from our generator.</summary>
        public float[] Initial(SeededRandom rng)
        {
            var values = new float[Size];
            foreach (var (rows, columns, offset) in _layers)
                TorchRuntime.Glorot(columns, rows, rng, values.AsSpan(offset, rows * columns));
            return values;
        }
    }

    /// <summary>Splits the trained network into the serving arrays.</summary>
    private void Export(LazyAdamTable embeddings, Tensor weights, Layout layout, ContentFeatures.Matrix userX, ContentFeatures.Matrix itemX)
    {
        var e = _embedding;
        var input = 2 * e + userX.Columns + itemX.Columns;
        var flat = TorchRuntime.ToArray(weights);
        var w1 = layout.Weight(flat, 0);
        var b1 = layout.Bias(flat, 0);
        var table = embeddings.Weight;
        var users = table.AsSpan(0, Users * e).ToArray();
        var items = table.AsSpan(Users * e, Items * e).ToArray();
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
        _w2 = layout.Weight(flat, 1);
        _b2 = layout.Bias(flat, 1);
        _w3 = layout.Weight(flat, 2);
        _b3 = layout.Bias(flat, 2);
        _w4 = layout.Weight(flat, 3);
        _b4 = layout.Bias(flat, 3)[0];
    }

    private static float[] Mean(float[] rows, int count, int width)
    {
        var mean = new float[width];
        for (var r = 0; r < count; r++)
            TensorPrimitives.Add(mean, rows.AsSpan(r * width, width), mean);
        TensorPrimitives.Divide(mean, Math.Max(1, count), mean);
        return mean;
    }

    /// <summary>
    /// Mean binary cross-entropy over validation pairs and as many negatives each, drawn from a fixed seed per user
    /// (comparable across epochs); users in parallel, summed in user order, so the figure does not depend on threads.
    /// </summary>
    private double ValidationLoss(CsrMatrix validation, CsrMatrix train, ulong seed)
    {
        var users = Math.Min(validation.Rows, Users);
        var sums = new double[users];
        var counts = new int[users];
        var h = Hidden[0];
        Parallel.For(0, users, () => new Scratch(), (u, _, scratch) =>
        {
            var rng = new SeededRandom(seed ^ 0x5EEDUL ^ ((ulong)u * 0x9E37_79B9_7F4A_7C15UL));
            var userPart = _userPart.AsSpan(u * h, h);
            foreach (var i in validation.RowColumns(u))
            {
                if (i >= Items)
                    continue;
                sums[u] += NeuralTraining.Softplus(-Pair(userPart, _itemPart.AsSpan(i * h, h), scratch));
                for (var j = 0; j < _negatives; j++)
                    sums[u] += NeuralTraining.Softplus(Pair(userPart, _itemPart.AsSpan(NeuralTraining.Negative(train, u, rng) * h, h), scratch));
                counts[u] += 1 + _negatives;
            }
            return scratch;
        }, _ => { });
        var n = counts.Sum();
        return n == 0 ? 0 : sums.Sum() / n;
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
