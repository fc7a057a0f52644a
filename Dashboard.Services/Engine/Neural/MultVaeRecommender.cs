using System.Diagnostics;
using System.Numerics.Tensors;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace Recs.Services.Engine.Neural;

/// <summary>
/// mult-vae: the variational autoencoder for collaborative filtering of Liang, Krishnan, Hoffman and Jebara (WWW 2018).
/// A user is their (binarised, L2-normalised) history x; the encoder q(z|x) = N(μ, σ²) is x → tanh(W₁x + b₁) → (μ, log σ²)
/// (hidden 600, latent 200 by default), the decoder f(z) = W₄ tanh(W₃z + b₃) + b₄ gives a multinomial over all items,
/// and training maximises the annealed ELBO: Σᵢ xᵢ log softmax(f(z))ᵢ − β KL(q(z|x) ‖ N(0, I)), β rising linearly to
/// its cap (0.2). Input dropout 0.5, Adam (lr 10⁻³), batch 500, early stopping on validation NDCG@10.
/// Trained with TorchSharp (libtorch) on both cores; scored from plain arrays (μ, no sampling), so serving, fold-in
/// and batch inference never load libtorch. Any history can be scored, so a new event folds in at once.
/// Determinism: weights start from our own seeded generator, input dropout and the reparameterisation noise come from
/// it too, and MKL runs in its reproducible mode; on one machine a seed gives the same model bit for bit.
/// </summary>
public sealed class MultVaeRecommender : Recommender, IHistoryScorer
{
    public const string Name = "mult-vae";

    /// <summary>Above this many items the decoder (items × hidden, with Adam's two moments) outgrows a small machine.</summary>
    public const int MaxItems = 30_000;

    /// <summary>mult-vae in the catalogue.</summary>
    public static readonly RecipeDescriptor Descriptor = new(Name,
        "Variational autoencoder over users' histories (Mult-VAE, Liang et al. 2018), trained with TorchSharp.",
        [
            new("hidden", 600, 16, 4096, Integer: true, Help: "units of the encoder's and decoder's hidden layer") { Search = (200, 800), LogScale = true },
            new("latent", 200, 8, 1024, Integer: true, Help: "size of the latent user vector z") { Search = (64, 256), LogScale = true },
            new("dropout", 0.5, 0, 0.9, Help: "share of a history's items hidden from the encoder in each step") { Search = (0.2, 0.7) },
            new("anneal-cap", 0.2, 0, 1, Help: "largest weight β of the KL term") { Search = (0.05, 0.5) },
            new("anneal-epochs", 20, 1, 1000, Integer: true, Help: "epochs over which β rises linearly from 0 to its cap"),
            new("learning-rate", 0.001, 1e-6, 1, Help: "Adam step") { Search = (3e-4, 3e-3), LogScale = true },
            new("batch-size", 500, 1, 100_000, Integer: true, Help: "users per step"),
            new("epochs", 100, 1, 10_000, Integer: true, Help: "passes at most; early stopping on validation picks the best"),
        ],
        v => new MultVaeRecommender(v.Int("hidden"), v.Int("latent"), v.Float("dropout"), v.Float("anneal-cap"), v.Int("anneal-epochs"),
            v.Float("learning-rate"), v.Int("batch-size"), v.Int("epochs")))
    {
        EpochParameter = "epochs",
        // A trial at the defaults, measured on Online Retail (4,334 users × 3,659 items): 2.6 s an epoch, ~30 epochs.
        AutoLeavesOut = NeuralTraining.AutoGate(shape => 6e-6 * shape.Users * shape.Items),
        CanFoldIn = true,
        LossName = "negative ELBO",
        Refuses = shape => shape.Items > MaxItems
            ? $"mult-vae's decoder holds a weight per item and hidden unit; {shape.Items:N0} items is more than the {MaxItems:N0} it allows"
            : shape.Users < 10 ? "mult-vae needs at least 10 users with history" : null,
    };

    private readonly int _hidden;
    private readonly int _latent;
    private readonly float _dropout;
    private readonly float _annealCap;
    private readonly int _annealEpochs;
    private readonly float _learningRate;
    private readonly int _batchSize;
    private readonly int _epochs;

    // The scoring path's weights (row-major): encoder input weights by item [items × hidden], the μ half of the second
    // layer [latent × hidden], decoder [hidden × latent] and output by item [items × hidden].
    private float[] _encoderByItem = [];
    private float[] _encoderBias = [];
    private float[] _mu = [];
    private float[] _muBias = [];
    private float[] _decoder = [];
    private float[] _decoderBias = [];
    private float[] _output = [];
    private float[] _outputBias = [];
    private CsrMatrix? _userItems;

    public MultVaeRecommender(int hidden = 600, int latent = 200, float dropout = 0.5f, float annealCap = 0.2f, int annealEpochs = 20,
        float learningRate = 0.001f, int batchSize = 500, int epochs = 100)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(hidden, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(latent, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(dropout);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(dropout, 1f);
        ArgumentOutOfRangeException.ThrowIfNegative(annealCap);
        ArgumentOutOfRangeException.ThrowIfLessThan(annealEpochs, 1);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(learningRate);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(epochs, 1);
        (_hidden, _latent, _dropout, _annealCap, _annealEpochs, _learningRate, _batchSize, _epochs) =
            (hidden, latent, dropout, annealCap, annealEpochs, learningRate, batchSize, epochs);
    }

    public override string Recipe => Name;

    public override IReadOnlyDictionary<string, object> Hyperparameters => new Dictionary<string, object>
    {
        ["hidden"] = _hidden, ["latent"] = _latent, ["dropout"] = _dropout, ["anneal_cap"] = _annealCap, ["anneal_epochs"] = _annealEpochs,
        ["learning_rate"] = _learningRate, ["batch_size"] = _batchSize, ["epochs"] = _epochs,
    };

    public override void Fit(CsrMatrix userItems, FitOptions options)
    {
        options.Cancellation.ThrowIfCancellationRequested();
        Users = userItems.Rows;
        Items = userItems.Columns;
        _userItems = userItems.WithValues(_ => 1f);
        TorchRuntime.Start();
        // Every tensor left to the garbage collector is kept until the fit ends (a finalizer could free a temporary while
        // libtorch reads it; see Scalars).
        using var tensors = NewDisposeScope();
        var rng = new SeededRandom(options.Seed);

        using var encoder = nn.Linear(Items, _hidden);
        using var stats = nn.Linear(_hidden, 2 * _latent);
        using var decoder = nn.Linear(_latent, _hidden);
        using var output = nn.Linear(_hidden, Items);
        foreach (var layer in new[] { encoder, stats, decoder, output })
            TorchRuntime.Initialise(layer, rng);
        var parameters = encoder.parameters().Concat(stats.parameters()).Concat(decoder.parameters()).Concat(output.parameters()).ToList();
        using var optimizer = new AdamOptimizer(parameters, _learningRate);

        var active = Enumerable.Range(0, Users).Where(u => userItems.RowLength(u) > 0).ToArray();
        var stepsPerEpoch = (active.Length + _batchSize - 1) / _batchSize;
        var annealSteps = (double)stepsPerEpoch * _annealEpochs;
        var step = 0;
        BeginFit();
        float[][]? best = null;
        for (var epoch = 1; epoch <= _epochs; epoch++)
        {
            var clock = Stopwatch.StartNew();
            rng.Shuffle(active.AsSpan());
            double lossSum = 0;
            var lossUsers = 0;
            for (var start = 0; start < active.Length; start += _batchSize)
            {
                options.Cancellation.ThrowIfCancellationRequested();
                var batch = active.AsSpan(start, Math.Min(_batchSize, active.Length - start));
                var beta = Math.Min(_annealCap, step++ / annealSteps * _annealCap);
                using var scope = NewDisposeScope();
                var (input, target) = Batch(batch, rng);
                var h = encoder.forward(input).tanh();
                var s = stats.forward(h);
                var mu = s.narrow(1, 0, _latent);
                var logVar = s.narrow(1, _latent, _latent);
                var noise = tensor(NeuralTraining.Normals(batch.Length * _latent, 1, rng), [batch.Length, _latent]);
                var z = mu.Plus(noise * logVar.Times(0.5).exp());
                var logits = output.forward(decoder.forward(z).tanh());
                var nll = -(logits.log_softmax(1) * target).sum(1).mean();
                var kl = logVar.exp().Plus(mu * mu).Minus(1).sub(logVar).Times(0.5).sum(1).mean();
                var loss = nll.Plus(kl.Times(beta));
                optimizer.ZeroGrad();
                loss.backward();
                optimizer.Step();
                lossSum += loss.item<float>() * batch.Length;
                lossUsers += batch.Length;
            }
            Export(encoder, stats, decoder, output);
            var seconds = clock.Elapsed.TotalSeconds;
            var validationLoss = Validation is null ? (double?)null : ValidationLoss(Validation);
            var ndcg = options.ValidationNdcg?.Invoke(this);
            var record = new EpochRecord(epoch, lossSum / Math.Max(1, lossUsers), validationLoss, ndcg, seconds);
            if (!EndEpoch(record, options, () => best = [_encoderByItem, _encoderBias, _mu, _muBias, _decoder, _decoderBias, _output, _outputBias]))
                break;
        }
        if (best is not null)
            (_encoderByItem, _encoderBias, _mu, _muBias, _decoder, _decoderBias, _output, _outputBias) = (best[0], best[1], best[2], best[3], best[4], best[5], best[6], best[7]);
    }

    /// <summary>
    /// The encoder's input (each history L2-normalised, then items dropped at the dropout rate and the rest scaled up, as
    /// in the paper) and the reconstruction target (the whole binary history), as dense batch × items tensors.
    /// </summary>
    private (Tensor Input, Tensor Target) Batch(ReadOnlySpan<int> users, SeededRandom rng)
    {
        var input = new float[users.Length * Items];
        var target = new float[users.Length * Items];
        for (var b = 0; b < users.Length; b++)
        {
            var row = _userItems!.RowColumns(users[b]);
            var weight = 1f / MathF.Sqrt(row.Length) / (1 - _dropout);
            foreach (var i in row)
            {
                target[b * Items + i] = 1;
                if (_dropout == 0 || rng.NextDouble() >= _dropout)
                    input[b * Items + i] = weight;
            }
        }
        return (tensor(input, [users.Length, Items]), tensor(target, [users.Length, Items]));
    }

    /// <summary>Copies the trained weights into the scoring arrays (new arrays, so a kept best epoch is not overwritten).</summary>
    private void Export(Linear encoder, Linear stats, Linear decoder, Linear output)
    {
        using (var transposed = encoder.weight!.detach().t())
            _encoderByItem = TorchRuntime.ToArray(transposed);
        _encoderBias = TorchRuntime.ToArray(encoder.bias!);
        using (var muRows = stats.weight!.detach().narrow(0, 0, _latent))
            _mu = TorchRuntime.ToArray(muRows);
        using (var muBias = stats.bias!.detach().narrow(0, 0, _latent))
            _muBias = TorchRuntime.ToArray(muBias);
        _decoder = TorchRuntime.ToArray(decoder.weight!);
        _decoderBias = TorchRuntime.ToArray(decoder.bias!);
        _output = TorchRuntime.ToArray(output.weight!);
        _outputBias = TorchRuntime.ToArray(output.bias!);
    }

    /// <summary>Mean over validation users of −(1/|V|) Σ_{i∈V} log softmax(f(μ(x)))ᵢ: how likely the model finds their held-out items.</summary>
    private double ValidationLoss(CsrMatrix validation)
    {
        var logits = new float[Items];
        double sum = 0;
        var users = 0;
        for (var u = 0; u < Math.Min(validation.Rows, Users); u++)
        {
            var held = validation.RowColumns(u);
            if (held.Length == 0 || _userItems!.RowLength(u) == 0)
                continue;
            Score(u, logits);
            var max = TensorPrimitives.Max(logits);
            double z = 0;
            foreach (var l in logits)
                z += Math.Exp(l - max);
            var logZ = max + Math.Log(z);
            double nll = 0;
            var n = 0;
            foreach (var i in held)
            {
                if (i < Items)
                {
                    nll += logZ - logits[i];
                    n++;
                }
            }
            if (n > 0)
            {
                sum += nll / n;
                users++;
            }
        }
        return users == 0 ? 0 : sum / users;
    }

    public override void Score(int user, Span<float> scores)
    {
        if (_userItems is null || user >= _userItems.Rows)
        {
            ScoreHistory([], [], scores);
            return;
        }
        ScoreHistory(_userItems.RowColumns(user), _userItems.RowValues(user), scores);
    }

    /// <summary>The decoder's logits at μ(x) for the history's distinct items (binarised and normalised as in training).</summary>
    public void ScoreHistory(ReadOnlySpan<int> items, ReadOnlySpan<float> weights, Span<float> scores)
    {
        var distinct = new HashSet<int>();
        foreach (var i in items)
        {
            if ((uint)i < (uint)Items)
                distinct.Add(i);
        }
        var h = (float[])_encoderBias.Clone();
        if (distinct.Count > 0)
        {
            var w = 1f / MathF.Sqrt(distinct.Count);
            foreach (var i in distinct)
                TensorPrimitives.MultiplyAdd(_encoderByItem.AsSpan(i * _hidden, _hidden), w, h, h);
        }
        TensorPrimitives.Tanh(h, h);
        var mu = new float[_latent];
        for (var k = 0; k < _latent; k++)
            mu[k] = TensorPrimitives.Dot(_mu.AsSpan(k * _hidden, _hidden), h) + _muBias[k];
        var d = new float[_hidden];
        for (var k = 0; k < _hidden; k++)
            d[k] = TensorPrimitives.Dot(_decoder.AsSpan(k * _latent, _latent), mu) + _decoderBias[k];
        TensorPrimitives.Tanh(d, d);
        for (var i = 0; i < Items; i++)
            scores[i] = TensorPrimitives.Dot(_output.AsSpan(i * _hidden, _hidden), d) + _outputBias[i];
    }

    /// <summary>Items whose output weights (what the decoder writes for them) point the same way: cosine neighbours.</summary>
    public override int SimilarItems(int item, Span<int> items, Span<float> scores) =>
        FactorMath.CosineNeighbours(_output, _hidden, item, items, scores);

    public override void Save(BinaryWriter writer)
    {
        writer.Write(Users);
        writer.Write(Items);
        writer.Write(_hidden);
        writer.Write(_latent);
        foreach (var array in new[] { _encoderByItem, _encoderBias, _mu, _muBias, _decoder, _decoderBias, _output, _outputBias })
            ArrayIo.Write(writer, array);
        ArrayIo.Write(writer, _userItems!.RowStart);
        ArrayIo.Write(writer, _userItems.ColumnIndex);
    }

    public override void Load(BinaryReader reader)
    {
        Users = reader.ReadInt32();
        Items = reader.ReadInt32();
        var (hidden, latent) = (reader.ReadInt32(), reader.ReadInt32());
        if (hidden != _hidden || latent != _latent)
            throw new InvalidDataException($"The artifact is a {hidden}-{latent} network; this recommender was made for {_hidden}-{_latent}.");
        _encoderByItem = ArrayIo.ReadFloats(reader);
        _encoderBias = ArrayIo.ReadFloats(reader);
        _mu = ArrayIo.ReadFloats(reader);
        _muBias = ArrayIo.ReadFloats(reader);
        _decoder = ArrayIo.ReadFloats(reader);
        _decoderBias = ArrayIo.ReadFloats(reader);
        _output = ArrayIo.ReadFloats(reader);
        _outputBias = ArrayIo.ReadFloats(reader);
        var rowStart = ArrayIo.ReadInts(reader);
        var columns = ArrayIo.ReadInts(reader);
        _userItems = new CsrMatrix(Users, Items, rowStart, columns, Enumerable.Repeat(1f, columns.Length).ToArray());
    }
}
