using System.Diagnostics;

namespace Recs.Services.Engine;

/// <summary>What to train and how to judge it; everything needed to reproduce a run.</summary>
public sealed record ExperimentSpec
{
    public required string Recipe { get; init; }

    public IReadOnlyDictionary<string, string> Hyperparameters { get; init; } = new Dictionary<string, string>();

    public string Split { get; init; } = Splits.Temporal;

    public double TestRatio { get; init; } = 0.2;

    public int K { get; init; } = 10;

    public ulong Seed { get; init; } = 42;

    public bool ExcludeSeen { get; init; } = true;

    /// <summary>Share of the training part held out (the same way as the test) to pick the epoch; 0 turns early stopping off.</summary>
    public double ValidationRatio { get; init; } = 0.1;

    public int Patience { get; init; } = 3;

    /// <summary>Validation NDCG is computed on at most this many users per epoch (seeded sample), to keep epochs cheap.</summary>
    public int ValidationUsers { get; init; } = 3000;
}

/// <summary>The outcome of one run: model metrics beside the popularity baseline's on the same split, and the curve.</summary>
public sealed record ExperimentResult(
    Recommender Model, DataSplit Split, EvaluationResult Metrics, EvaluationResult Baseline,
    IReadOnlyList<EpochRecord> History, int? BestEpoch, double TrainSeconds, int TrainInteractions);

/// <summary>
/// Split → (for iterative recipes: fit on the training part minus a validation part, picking the epoch by
/// validation NDCG@10, then refit on the whole training part for that many epochs) → evaluate on the test
/// part, and the popularity baseline on the same split. Pure compute: the CLI and the training job share it.
/// </summary>
public static class Experiment
{
    public static ExperimentResult Run(InteractionSet data, ExperimentSpec spec, int[]? itemCategory = null,
        IReadOnlyDictionary<string, UserGroups>? groups = null, IProgress<(string Phase, EpochRecord? Epoch)>? progress = null,
        CancellationToken cancellation = default, SideFeatures? features = null)
    {
        var split = Splits.Make(data, spec.Split, spec.TestRatio, spec.Seed);
        var model = Recipes.Create(spec.Recipe, spec.Hyperparameters, spec.ExcludeSeen);
        var train = split.Train.ToMatrix();
        var test = split.Test.ToMatrix();
        var fitted = model.Prepare(split.Train);
        var fitMatrix = ReferenceEquals(fitted, split.Train) ? train : fitted.ToMatrix();
        var iterative = model is AlsRecommender or BprRecommender or RatingMfRecommender or HybridRecommender;

        IReadOnlyList<EpochRecord> history = [];
        int? bestEpoch = null;
        var hyperparameters = new Dictionary<string, string>(spec.Hyperparameters);
        if (iterative && spec.ValidationRatio > 0)
        {
            progress?.Report(("choosing the epoch on validation data", null));
            var inner = Splits.Make(split.Train, spec.Split, spec.ValidationRatio, spec.Seed + 1);
            var innerTrain = inner.Train.ToMatrix();
            var innerValidation = inner.Test.ToMatrix();
            var validator = new Evaluator(innerTrain, innerValidation, 10, maxUsers: spec.ValidationUsers, seed: spec.Seed);
            var selection = Recipes.Create(spec.Recipe, spec.Hyperparameters, spec.ExcludeSeen);
            if (selection is BprRecommender bpr)
                bpr.Validation = innerValidation;
            else if (selection is RatingMfRecommender mf)
                mf.Validation = mf.Prepare(inner.Test).ToMatrix();
            var innerFitted = selection.Prepare(inner.Train);
            selection.Fit(ReferenceEquals(innerFitted, inner.Train) ? innerTrain : innerFitted.ToMatrix(), new FitOptions
            {
                Seed = spec.Seed,
                Features = features,
                ValidationNdcg = m => validator.Ndcg(m),
                Patience = spec.Patience,
                Cancellation = cancellation,
                Progress = new InlineProgress<EpochRecord>(e => progress?.Report(("choosing the epoch on validation data", e))),
            });
            history = selection.History.ToList();
            bestEpoch = selection.BestEpoch;
            if (bestEpoch is { } best)
                hyperparameters[model is AlsRecommender ? "iterations" : "epochs"] = best.ToString(System.Globalization.CultureInfo.InvariantCulture);
            model = Recipes.Create(spec.Recipe, hyperparameters, spec.ExcludeSeen);
        }

        progress?.Report(("training", null));
        var clock = Stopwatch.StartNew();
        model.Fit(fitMatrix, new FitOptions
        {
            Seed = spec.Seed,
            Features = features,
            Cancellation = cancellation,
            Progress = new InlineProgress<EpochRecord>(e => progress?.Report(("training", e))),
        });
        var trainSeconds = clock.Elapsed.TotalSeconds;
        if (!iterative || spec.ValidationRatio <= 0)
            history = model.History.ToList();

        progress?.Report(("evaluating", null));
        var evaluator = new Evaluator(train, test, spec.K, itemCategory, groups, seed: spec.Seed);
        var metrics = evaluator.Evaluate(model);
        var baselineModel = new PopularityRecommender { ExcludeSeen = spec.ExcludeSeen };
        baselineModel.Fit(train, new FitOptions { Seed = spec.Seed });
        var baseline = evaluator.Evaluate(baselineModel);
        if (model is IRatingPredictor predictor)
        {
            var (rmse, mae) = Evaluator.RatingErrors(predictor, split.Test.Ratings());
            metrics = metrics with { Metrics = new Dictionary<string, double>(metrics.Metrics) { ["rmse"] = rmse, ["mae"] = mae } };
        }
        return new ExperimentResult(model, split, metrics, baseline, history, bestEpoch, trainSeconds, split.Train.Count);
    }
}

/// <summary>An IProgress that reports on the calling thread (Progress&lt;T&gt; would post to the thread pool, out of order).</summary>
public sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
