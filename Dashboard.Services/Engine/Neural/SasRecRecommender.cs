using System.Diagnostics;
using System.Numerics.Tensors;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace Recs.Services.Engine.Neural;

/// <summary>
/// sasrec: self-attentive sequential recommendation (Kang and McAuley, ICDM 2018), the seeds' sequence model. A user is
/// the ordered list of their last <c>max-length</c> items; each item's embedding (× √d) plus its position's embedding
/// goes through <c>blocks</c> self-attention blocks (one head, causal: a position sees only itself and earlier ones),
/// each [layer norm → attention, plus residual] → [layer norm → point-wise FFN (ReLU), plus residual], then a final layer
/// norm; the score of item i after the sequence is the last position's state · item i's embedding. Trained as in the paper
/// (and its PyTorch port): every position predicts the next item, binary cross-entropy against one sampled negative per
/// position, dropout 0.2, Adam 10⁻³, batch 128 users, early stopping on validation NDCG@10.
/// Order: histories are ordered by event time (ties in their listed order) from the interactions given to
/// <see cref="Prepare"/>. Without them (a bare matrix) the order is unknown, so each epoch trains on a fresh seeded
/// shuffle of every row (the model learns what follows what is there, not a made-up order); users are then scored
/// from their row in index order.
/// Trained with TorchSharp on both cores; scored from plain arrays by a C# forward pass that mirrors the training one
/// (see <see cref="ScoreHistory"/>), so serving never loads libtorch, and any ordered history folds in at once.
/// Determinism: our generator draws the initial weights, the order of users and the negatives; dropout's masks come from
/// libtorch's generator, seeded at the start of the fit (fits run one at a time).
/// </summary>
public sealed class SasRecRecommender : Recommender, IHistoryScorer
{
    public const string Name = "sasrec";

    /// <summary>The least patience early stopping gets (see <see cref="Fit"/>).</summary>
    public const int MinimumPatience = 10;

    private const float LayerNormEpsilon = 1e-5f;

    // Masked attention logits: exp(−10⁹ − max) is exactly 0 in float, so a masked key weighs exactly nothing.
    private const float Masked = -1e9f;

    /// <summary>
    /// Scalars kept for the process (see <see cref="Scalars"/>), in a class of their own: creating one loads libtorch,
    /// and this class's static fields are initialised when the recipe catalogue first reads <see cref="Descriptor"/>.
    /// </summary>
    private static class Kept
    {
        public static readonly TorchSharp.Scalar MaskedLogit = Masked;
    }

    /// <summary>sasrec in the catalogue.</summary>
    public static readonly RecipeDescriptor Descriptor = new(Name,
        "Self-attentive sequential recommendation (SASRec, Kang and McAuley 2018): the next item from the ordered history, trained with TorchSharp.",
        [
            new("max-length", 50, 2, 1000, Integer: true, Help: "the most recent items of a history the model reads") { Search = (20, 200), LogScale = true },
            new("hidden", 50, 4, 512, Integer: true, Help: "width of the item and position embeddings and of every layer") { Search = (32, 128), LogScale = true },
            new("blocks", 2, 1, 8, Integer: true, Help: "self-attention blocks") { Search = (1, 3) },
            new("dropout", 0.2, 0, 0.9, Help: "dropout on embeddings, attention weights and FFN") { Search = (0, 0.5) },
            new("learning-rate", 0.001, 1e-6, 1, Help: "Adam step") { Search = (3e-4, 3e-3), LogScale = true },
            new("batch-size", 128, 1, 65_536, Integer: true, Help: "user sequences per step"),
            new("epochs", 100, 1, 10_000, Integer: true, Help: "passes at most; early stopping on validation picks the best"),
        ],
        v => new SasRecRecommender(v.Int("max-length"), v.Int("hidden"), v.Int("blocks"), v.Float("dropout"), v.Float("learning-rate"),
            v.Int("batch-size"), v.Int("epochs")))
    {
        EpochParameter = "epochs",
        // A trial at the defaults, measured on Online Retail (313 k interactions): 4.2 s an epoch, 60 epochs with patience 10.
        AutoLeavesOut = NeuralTraining.AutoGate(shape => 1e-3 * shape.Interactions),
        CanFoldIn = true,
        LossName = "binary cross-entropy",
        Refuses = shape => shape.Users < 10 ? "sasrec needs at least 10 users with history" : null,
    };

    private readonly int _maxLength;
    private readonly int _hidden;
    private readonly int _blocks;
    private readonly float _dropout;
    private readonly float _learningRate;
    private readonly int _batchSize;
    private readonly int _epochs;

    private int[][]? _prepared;

    // Serving arrays. Weights as TorchSharp keeps them (Linear: [out × in] row-major). Per block, in this order:
    // attention layer norm γ, β; Wq, bq; Wk, bk; Wv, bv; Wo, bo; FFN layer norm γ, β; W1, b1; W2, b2.
    private const int PerBlock = 16;
    private float[] _itemEmbedding = []; // [items × d], item i's row (training's row i + 1; row 0 pads)
    private float[] _position = [];      // [max-length × d]
    private float[][] _blockWeights = [];
    private float[] _lastGamma = [];
    private float[] _lastBeta = [];
    private float[] _userStates = [];    // [users × d]: each trained user's state after their whole history

    public SasRecRecommender(int maxLength = 50, int hidden = 50, int blocks = 2, float dropout = 0.2f, float learningRate = 0.001f,
        int batchSize = 128, int epochs = 100)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(hidden, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(blocks, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(dropout);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(dropout, 1f);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(learningRate);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(epochs, 1);
        (_maxLength, _hidden, _blocks, _dropout, _learningRate, _batchSize, _epochs) = (maxLength, hidden, blocks, dropout, learningRate, batchSize, epochs);
    }

    public override string Recipe => Name;

    public override IReadOnlyDictionary<string, object> Hyperparameters => new Dictionary<string, object>
    {
        ["max_length"] = _maxLength, ["hidden"] = _hidden, ["blocks"] = _blocks, ["dropout"] = _dropout,
        ["learning_rate"] = _learningRate, ["batch_size"] = _batchSize, ["epochs"] = _epochs,
    };

    /// <summary>Keeps each user's items in event-time order (ties in listed order) for the fit that follows.</summary>
    public override InteractionSet Prepare(InteractionSet interactions)
    {
        _prepared = OrderedHistories(interactions);
        return interactions;
    }

    /// <summary>Each user's items with a positive weight, ordered by time (ties in listed order), immediate repeats dropped.</summary>
    public static int[][] OrderedHistories(InteractionSet interactions)
    {
        var byUser = interactions.PositionsByUser();
        var result = new int[interactions.Users][];
        for (var u = 0; u < byUser.Length; u++)
        {
            var ordered = byUser[u].Where(k => interactions.Weight[k] > 0).OrderBy(k => interactions.Time[k]).ThenBy(k => k).Select(k => interactions.Item[k]);
            result[u] = WithoutRepeats(ordered);
        }
        return result;
    }

    private static int[] WithoutRepeats(IEnumerable<int> items)
    {
        var list = new List<int>();
        foreach (var i in items)
        {
            if (list.Count == 0 || list[^1] != i)
                list.Add(i);
        }
        return list.ToArray();
    }

    public override void Fit(CsrMatrix userItems, FitOptions options)
    {
        options.Cancellation.ThrowIfCancellationRequested();
        Users = userItems.Rows;
        Items = userItems.Columns;
        var ordered = _prepared is { } p && p.Length == Users && p.All(s => s.All(i => (uint)i < (uint)Items));
        var sequences = ordered ? _prepared! : Enumerable.Range(0, Users).Select(u => userItems.RowColumns(u).ToArray()).ToArray();
        // Validation NDCG@10 stalls for ten epochs or so before it climbs (Online Retail, leave-last-out: 0.021 at epochs
        // 5–12, 0.15 by epoch 75), so a shorter patience stops it on the plateau; 0 still means never stop.
        if (options.Patience is > 0 and < MinimumPatience)
            options = options with { Patience = MinimumPatience };
        NeuralTraining.Seeded(options.Seed, () => FitLocked(userItems, sequences, ordered, options));
    }

    /// <summary>The network being trained: embeddings, blocks and final norm, with the forward pass that training and export share.</summary>
    private sealed class Network : IDisposable
    {
        public readonly Embedding Items;
        public readonly Embedding Positions;
        public readonly List<(LayerNorm AttentionNorm, Linear Q, Linear K, Linear V, Linear O, LayerNorm FfnNorm, Linear Ffn1, Linear Ffn2)> Blocks = [];
        public readonly LayerNorm Last;
        public readonly Dropout Dropout;
        private readonly int _hidden;
        private readonly int _length;

        public Network(int items, int length, int hidden, int blocks, float dropout, SeededRandom rng)
        {
            (_hidden, _length) = (hidden, length);
            Items = nn.Embedding(items + 1, hidden);
            Positions = nn.Embedding(length, hidden);
            TorchRuntime.Assign(Items.weight!, NeuralTraining.Normals((items + 1) * hidden, 1 / Math.Sqrt(hidden), rng));
            TorchRuntime.Assign(Positions.weight!, NeuralTraining.Normals(length * hidden, 1 / Math.Sqrt(hidden), rng));
            for (var b = 0; b < blocks; b++)
            {
                var block = (nn.LayerNorm(hidden, LayerNormEpsilon), nn.Linear(hidden, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, hidden),
                    nn.Linear(hidden, hidden), nn.LayerNorm(hidden, LayerNormEpsilon), nn.Linear(hidden, hidden), nn.Linear(hidden, hidden));
                foreach (var layer in new[] { block.Item2, block.Item3, block.Item4, block.Item5, block.Item7, block.Item8 })
                    TorchRuntime.Initialise(layer, rng);
                Blocks.Add(block);
            }
            Last = nn.LayerNorm(hidden, LayerNormEpsilon);
            Dropout = nn.Dropout(dropout);
        }

        public IEnumerable<Parameter> Parameters() =>
            Items.parameters().Concat(Positions.parameters()).Concat(Last.parameters())
                .Concat(Blocks.SelectMany(b => b.AttentionNorm.parameters().Concat(b.Q.parameters()).Concat(b.K.parameters()).Concat(b.V.parameters())
                    .Concat(b.O.parameters()).Concat(b.FfnNorm.parameters()).Concat(b.Ffn1.parameters()).Concat(b.Ffn2.parameters())));

        /// <summary>
        /// States [batch × length × d] of left-padded sequences [batch × length] (item index + 1; 0 pads). A position
        /// attends to itself and earlier real positions only; padded positions are zeroed after each block.
        /// </summary>
        public Tensor Forward(Tensor sequences)
        {
            var real = sequences.gt(Scalars.Zero);
            var mask = real.unsqueeze(-1).to_type(ScalarType.Float32);
            var x = Items.forward(sequences).Times(Math.Sqrt(_hidden)).Plus(Positions.weight!);
            x = Dropout.forward(x) * mask;
            var causal = ones(_length, _length, ScalarType.Bool).tril();
            var blocked = causal.unsqueeze(0).logical_and(real.unsqueeze(1)).logical_not();
            var scale = 1 / Math.Sqrt(_hidden);
            foreach (var b in Blocks)
            {
                var q = b.AttentionNorm.forward(x);
                var logits = b.Q.forward(q).matmul(b.K.forward(x).transpose(1, 2)).Times(scale);
                var weights = Dropout.forward(logits.masked_fill(blocked, Kept.MaskedLogit).softmax(-1));
                x = q.Plus(Dropout.forward(b.O.forward(weights.matmul(b.V.forward(x)))));
                var y = b.FfnNorm.forward(x);
                x = y.Plus(Dropout.forward(b.Ffn2.forward(Dropout.forward(b.Ffn1.forward(y).relu()))));
                x = x * mask;
            }
            return Last.forward(x);
        }

        public void Train(bool on)
        {
            foreach (var module in new TorchSharp.torch.nn.Module[] { Items, Positions, Last, Dropout })
                module.train(on);
            foreach (var b in Blocks)
                foreach (var module in new TorchSharp.torch.nn.Module[] { b.AttentionNorm, b.Q, b.K, b.V, b.O, b.FfnNorm, b.Ffn1, b.Ffn2 })
                    module.train(on);
        }

        public void Dispose()
        {
            Items.Dispose();
            Positions.Dispose();
            Last.Dispose();
            Dropout.Dispose();
            foreach (var b in Blocks)
            {
                b.AttentionNorm.Dispose();
                b.Q.Dispose();
                b.K.Dispose();
                b.V.Dispose();
                b.O.Dispose();
                b.FfnNorm.Dispose();
                b.Ffn1.Dispose();
                b.Ffn2.Dispose();
            }
        }
    }

    private void FitLocked(CsrMatrix userItems, int[][] sequences, bool ordered, FitOptions options)
    {
        var rng = new SeededRandom(options.Seed);
        var length = _maxLength;
        using var network = new Network(Items, length, _hidden, _blocks, _dropout, rng);
        using var optimizer = new AdamOptimizer(network.Parameters(), _learningRate);

        // One training sequence per user with at least two items, as in the paper: inputs s₁…s₍ₙ₋₁₎, targets s₂…sₙ.
        var trainable = Enumerable.Range(0, Users).Where(u => sequences[u].Length >= 2).ToArray();
        var inputs = new long[_batchSize * length];
        var positives = new long[_batchSize * length];
        var negatives = new long[_batchSize * length];
        BeginFit();
        float[][]? best = null;
        for (var epoch = 1; epoch <= _epochs; epoch++)
        {
            var clock = Stopwatch.StartNew();
            rng.Shuffle(trainable.AsSpan());
            network.Train(true);
            double lossSum = 0;
            long targets = 0;
            for (var start = 0; start < trainable.Length; start += _batchSize)
            {
                options.Cancellation.ThrowIfCancellationRequested();
                var size = Math.Min(_batchSize, trainable.Length - start);
                Array.Clear(inputs);
                Array.Clear(positives);
                Array.Clear(negatives);
                var count = 0;
                for (var b = 0; b < size; b++)
                {
                    var u = trainable[start + b];
                    var s = sequences[u];
                    if (!ordered)
                    {
                        s = (int[])s.Clone();
                        rng.Shuffle(s.AsSpan());
                    }
                    var n = Math.Min(length, s.Length - 1);
                    for (var k = 0; k < n; k++)
                    {
                        var at = b * length + length - n + k;
                        inputs[at] = s[s.Length - 1 - n + k] + 1;
                        positives[at] = s[s.Length - n + k] + 1;
                        negatives[at] = NeuralTraining.Negative(userItems, u, rng) + 1;
                    }
                    count += n;
                }
                using var scope = NewDisposeScope();
                var states = network.Forward(tensor(inputs.AsSpan(0, size * length).ToArray(), [size, length]));
                var pos = tensor(positives.AsSpan(0, size * length).ToArray(), [size, length]);
                var neg = tensor(negatives.AsSpan(0, size * length).ToArray(), [size, length]);
                var posLogits = (states * network.Items.forward(pos)).sum(-1);
                var negLogits = (states * network.Items.forward(neg)).sum(-1);
                var valid = pos.gt(Scalars.Zero).to_type(ScalarType.Float32);
                // −log σ(pos) − log(1 − σ(neg)) = −(log σ(pos) + log σ(−neg)), over real positions only.
                var loss = (nn.functional.logsigmoid(posLogits).Plus(nn.functional.logsigmoid(negLogits.neg())).neg() * valid).sum().Over(count);
                optimizer.ZeroGrad();
                loss.backward();
                optimizer.Step();
                lossSum += loss.item<float>() * count;
                targets += count;
            }
            network.Train(false);
            Export(network, sequences, options.Cancellation);
            var seconds = clock.Elapsed.TotalSeconds;
            var validationLoss = Validation is null ? (double?)null : ValidationLoss(Validation, userItems, options.Seed);
            var ndcg = options.ValidationNdcg?.Invoke(this);
            var record = new EpochRecord(epoch, lossSum / Math.Max(1, targets), validationLoss, ndcg, seconds);
            if (!EndEpoch(record, options, () => best = Arrays()))
                break;
        }
        if (best is not null)
            Restore(best);
    }

    /// <summary>
    /// Copies the weights into the serving arrays (new arrays, so a kept best epoch is not overwritten) and computes every
    /// user's state after their whole history with the network itself, in batches.
    /// </summary>
    private void Export(Network network, int[][] sequences, CancellationToken cancellation)
    {
        using var _ = no_grad();
        using (var items = network.Items.weight!.narrow(0, 1, Items))
            _itemEmbedding = TorchRuntime.ToArray(items);
        _position = TorchRuntime.ToArray(network.Positions.weight!);
        _blockWeights = network.Blocks.SelectMany(b => new[]
        {
            b.AttentionNorm.weight!, b.AttentionNorm.bias!, b.Q.weight!, b.Q.bias!, b.K.weight!, b.K.bias!, b.V.weight!, b.V.bias!,
            b.O.weight!, b.O.bias!, b.FfnNorm.weight!, b.FfnNorm.bias!, b.Ffn1.weight!, b.Ffn1.bias!, b.Ffn2.weight!, b.Ffn2.bias!,
        }).Select(TorchRuntime.ToArray).ToArray();
        _lastGamma = TorchRuntime.ToArray(network.Last.weight!);
        _lastBeta = TorchRuntime.ToArray(network.Last.bias!);

        var length = _maxLength;
        var states = new float[Users * _hidden];
        const int batch = 512;
        var input = new long[batch * length];
        for (var start = 0; start < Users; start += batch)
        {
            cancellation.ThrowIfCancellationRequested();
            var size = Math.Min(batch, Users - start);
            Array.Clear(input);
            for (var b = 0; b < size; b++)
            {
                var s = sequences[start + b];
                var n = Math.Min(length, s.Length);
                for (var k = 0; k < n; k++)
                    input[b * length + length - n + k] = s[s.Length - n + k] + 1;
            }
            using var scope = NewDisposeScope();
            var last = network.Forward(tensor(input.AsSpan(0, size * length).ToArray(), [size, length])).select(1, length - 1);
            TorchRuntime.ToArray(last).CopyTo(states.AsSpan(start * _hidden));
        }
        _userStates = states;
    }

    private float[][] Arrays() => [_itemEmbedding, _position, _lastGamma, _lastBeta, _userStates, .. _blockWeights];

    private void Restore(float[][] arrays)
    {
        (_itemEmbedding, _position, _lastGamma, _lastBeta, _userStates) = (arrays[0], arrays[1], arrays[2], arrays[3], arrays[4]);
        _blockWeights = arrays[5..];
    }

    /// <summary>
    /// Mean binary cross-entropy of each validation user's held-out items after their history, each against a negative
    /// drawn from a fixed seed (comparable across epochs): the training objective on the held-out next items.
    /// </summary>
    private double ValidationLoss(CsrMatrix validation, CsrMatrix train, ulong seed)
    {
        var rng = new SeededRandom(seed ^ 0x5EEDUL);
        double sum = 0;
        var n = 0;
        for (var u = 0; u < Math.Min(validation.Rows, Users); u++)
        {
            var state = _userStates.AsSpan(u * _hidden, _hidden);
            foreach (var i in validation.RowColumns(u))
            {
                if (i >= Items)
                    continue;
                var negative = NeuralTraining.Negative(train, u, rng);
                sum += NeuralTraining.Softplus(-TensorPrimitives.Dot(state, _itemEmbedding.AsSpan(i * _hidden, _hidden)))
                    + NeuralTraining.Softplus(TensorPrimitives.Dot(state, _itemEmbedding.AsSpan(negative * _hidden, _hidden)));
                n++;
            }
        }
        return n == 0 ? 0 : sum / n;
    }

    /// <summary>A trained user's scores: their state after their training history · every item's embedding.</summary>
    public override void Score(int user, Span<float> scores)
    {
        if ((uint)user >= (uint)Users || _userStates.Length < (user + 1) * _hidden)
        {
            ScoreHistory([], [], scores);
            return;
        }
        ScoreState(_userStates.AsSpan(user * _hidden, _hidden), scores);
    }

    private void ScoreState(ReadOnlySpan<float> state, Span<float> scores)
    {
        for (var i = 0; i < Items; i++)
            scores[i] = TensorPrimitives.Dot(_itemEmbedding.AsSpan(i * _hidden, _hidden), state);
    }

    /// <summary>
    /// Scores the item after an ordered history (oldest first; the weights are not used, items outside the model and
    /// immediate repeats are skipped): the training network's forward pass in plain arrays, on the last max-length items.
    /// </summary>
    public void ScoreHistory(ReadOnlySpan<int> items, ReadOnlySpan<float> weights, Span<float> scores) =>
        ScoreState(State(items), scores);

    /// <summary>The final layer norm of the last position after the blocks (the final norm's β alone for an empty history, as in training).</summary>
    private float[] State(ReadOnlySpan<int> items)
    {
        var known = new List<int>();
        foreach (var i in items)
        {
            if ((uint)i < (uint)Items && (known.Count == 0 || known[^1] != i))
                known.Add(i);
        }
        var n = Math.Min(_maxLength, known.Count);
        var d = _hidden;
        if (n == 0)
            return (float[])_lastBeta.Clone();
        var x = new float[n * d];
        var root = MathF.Sqrt(d);
        for (var k = 0; k < n; k++)
        {
            var row = x.AsSpan(k * d, d);
            TensorPrimitives.Multiply(_itemEmbedding.AsSpan(known[known.Count - n + k] * d, d), root, row);
            TensorPrimitives.Add(row, _position.AsSpan((_maxLength - n + k) * d, d), row);
        }
        var q = new float[n * d];
        var keys = new float[n * d];
        var values = new float[n * d];
        var queries = new float[n * d];
        var attended = new float[d];
        var y = new float[n * d];
        var hidden = new float[d];
        var logits = new float[n];
        var scale = 1 / MathF.Sqrt(d);
        for (var b = 0; b < _blocks; b++)
        {
            var w = _blockWeights.AsSpan(b * PerBlock, PerBlock);
            for (var t = 0; t < n; t++)
            {
                LayerNorm(x.AsSpan(t * d, d), w[0], w[1], q.AsSpan(t * d, d));
                Linear(w[2], w[3], q.AsSpan(t * d, d), queries.AsSpan(t * d, d));
                Linear(w[4], w[5], x.AsSpan(t * d, d), keys.AsSpan(t * d, d));
                Linear(w[6], w[7], x.AsSpan(t * d, d), values.AsSpan(t * d, d));
            }
            for (var t = 0; t < n; t++)
            {
                // Causal: position t attends to 0…t.
                var scores = logits.AsSpan(0, t + 1);
                for (var j = 0; j <= t; j++)
                    scores[j] = TensorPrimitives.Dot(queries.AsSpan(t * d, d), keys.AsSpan(j * d, d)) * scale;
                TensorPrimitives.SoftMax(scores, scores);
                Array.Clear(attended);
                for (var j = 0; j <= t; j++)
                    TensorPrimitives.MultiplyAdd(values.AsSpan(j * d, d), scores[j], attended, attended);
                var row = x.AsSpan(t * d, d);
                Linear(w[8], w[9], attended, row);
                TensorPrimitives.Add(row, q.AsSpan(t * d, d), row);
            }
            for (var t = 0; t < n; t++)
            {
                var row = x.AsSpan(t * d, d);
                var norm = y.AsSpan(t * d, d);
                LayerNorm(row, w[10], w[11], norm);
                Linear(w[12], w[13], norm, hidden);
                TensorPrimitives.Max(hidden, 0f, hidden);
                Linear(w[14], w[15], hidden, row);
                TensorPrimitives.Add(row, norm, row);
            }
        }
        var state = new float[d];
        LayerNorm(x.AsSpan((n - 1) * d, d), _lastGamma, _lastBeta, state);
        return state;
    }

    /// <summary>output = W·input + b, W being [output × input] row-major as TorchSharp's Linear keeps it.</summary>
    private static void Linear(float[] weight, float[] bias, ReadOnlySpan<float> input, Span<float> output)
    {
        for (var j = 0; j < output.Length; j++)
            output[j] = TensorPrimitives.Dot(weight.AsSpan(j * input.Length, input.Length), input) + bias[j];
    }

    /// <summary>(x − mean) / √(biased variance + ε) · γ + β, as torch's layer_norm.</summary>
    private static void LayerNorm(ReadOnlySpan<float> x, float[] gamma, float[] beta, Span<float> output)
    {
        var mean = TensorPrimitives.Sum(x) / x.Length;
        TensorPrimitives.Subtract(x, mean, output);
        var variance = TensorPrimitives.SumOfSquares(output) / x.Length;
        TensorPrimitives.Multiply(output, 1 / MathF.Sqrt(variance + LayerNormEpsilon), output);
        TensorPrimitives.MultiplyAdd(output, gamma, beta, output);
    }

    /// <summary>Items whose learned embeddings point the same way.</summary>
    public override int SimilarItems(int item, Span<int> items, Span<float> scores) =>
        FactorMath.CosineNeighbours(_itemEmbedding, _hidden, item, items, scores);

    public override void Save(BinaryWriter writer)
    {
        writer.Write(Users);
        writer.Write(Items);
        writer.Write(_maxLength);
        writer.Write(_hidden);
        writer.Write(_blocks);
        foreach (var array in Arrays())
            ArrayIo.Write(writer, array);
    }

    public override void Load(BinaryReader reader)
    {
        Users = reader.ReadInt32();
        Items = reader.ReadInt32();
        var (length, hidden, blocks) = (reader.ReadInt32(), reader.ReadInt32(), reader.ReadInt32());
        if (length != _maxLength || hidden != _hidden || blocks != _blocks)
            throw new InvalidDataException($"The artifact is a {blocks}-block network of width {hidden} over {length} items; this recommender was made for {_blocks}, {_hidden} and {_maxLength}.");
        var arrays = new float[5 + PerBlock * blocks][];
        for (var k = 0; k < arrays.Length; k++)
            arrays[k] = ArrayIo.ReadFloats(reader);
        Restore(arrays);
    }
}
