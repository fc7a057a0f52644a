using System.Diagnostics;
using System.Globalization;

namespace Recs.Services.Engine;

/// <summary>What to train and how to judge it; everything needed to reproduce a run.</summary>
public sealed record ExperimentSpec
{
    /// <summary>The recipe to train; with <see cref="Search"/> set, the search chooses it instead.</summary>
    public required RecipeDescriptor Recipe { get; init; }

    public IReadOnlyDictionary<string, string> Hyperparameters { get; init; } = new Dictionary<string, string>();

    /// <summary>Set for <c>auto</c>: choose and tune the recipe on validation data first.</summary>
    public AutoSearchSpec? Search { get; init; }

    public string Split { get; init; } = Splits.Temporal;

    public double TestRatio { get; init; } = 0.2;

    public int K { get; init; } = 10;

    public ulong Seed { get; init; } = 42;

    public bool ExcludeSeen { get; init; } = true;

    /// <summary>Share of the training part held out (the same way as the test) to pick the epoch and tune; 0 turns that off.</summary>
    public double ValidationRatio { get; init; } = 0.1;

    public int Patience { get; init; } = 3;

    /// <summary>Validation NDCG is computed on at most this many users per epoch (seeded sample), to keep epochs cheap.</summary>
    public int ValidationUsers { get; init; } = 3000;
}

/// <summary>The phases of a run, in order; progress reports name one.</summary>
public enum ExperimentPhase
{
    /// <summary>auto: trying recipes and hyperparameters on the validation slice.</summary>
    Searching,

    /// <summary>An iterative recipe picks its epoch count on the validation slice.</summary>
    ChoosingEpochs,

    /// <summary>Fitting on the whole training part.</summary>
    Training,

    /// <summary>Scoring the test part, and popularity on it.</summary>
    Evaluating,
}

/// <summary>A progress report of a run: the phase, and the epoch or search trial just finished (if any).</summary>
public sealed record ExperimentProgress(ExperimentPhase Phase, EpochRecord? Epoch = null, AutoTrial? Trial = null);

/// <summary>
/// The outcome of one run: the recipe trained (auto's choice where it chose) with the hyperparameters it used, model
/// metrics beside the popularity baseline's on the same split, the curve, and auto's trials.
/// </summary>
public sealed record ExperimentResult(
    Recommender Model, RecipeDescriptor Recipe, IReadOnlyDictionary<string, string> Hyperparameters, DataSplit Split,
    EvaluationResult Metrics, EvaluationResult Baseline, IReadOnlyList<EpochRecord> History, int? BestEpoch, double TrainSeconds,
    int TrainInteractions, AutoSearchResult? Search = null);

/// <summary>
/// Split → (auto: search recipes and hyperparameters on a validation slice of the training part) → (iterative recipes:
/// fit on the training part minus the validation slice, picking the epoch by validation NDCG@10) → fit on the whole
/// training part → evaluate once on the test part, beside popularity on the same split. The test part never touches a
/// choice. Pure compute: the CLI and the training job share it.
/// </summary>
public static class Experiment
{
    public static ExperimentResult Run(InteractionSet data, ExperimentSpec spec, int[]? itemCategory = null,
        IReadOnlyDictionary<string, UserGroups>? groups = null, IProgress<ExperimentProgress>? progress = null,
        CancellationToken cancellation = default, SideFeatures? features = null)
    {
        var split = Splits.Make(data, spec.Split, spec.TestRatio, spec.Seed);
        var train = split.Train.ToMatrix();
        var test = split.Test.ToMatrix();
        var recipe = spec.Recipe;
        var hyperparameters = recipe.Complete(spec.Hyperparameters);

        // The validation slice: held out of the training part the same way the test is held out of all the data.
        var validation = new Lazy<ValidationSlice>(() =>
        {
            var inner = Splits.Make(split.Train, spec.Split, spec.ValidationRatio, spec.Seed + 1);
            var innerTrain = inner.Train.ToMatrix();
            var innerValidation = inner.Test.ToMatrix();
            return new ValidationSlice(innerTrain, new Evaluator(innerTrain, innerValidation, 10, maxUsers: spec.ValidationUsers, seed: spec.Seed), inner.Train, inner.Test);
        });

        AutoSearchResult? search = null;
        IReadOnlyList<EpochRecord> history = [];
        int? bestEpoch = null;
        if (spec.Search is { } searchSpec)
        {
            if (spec.ValidationRatio <= 0)
                throw new ArgumentException("auto needs a validation slice: the validation ratio must be above 0.");
            progress?.Report(new ExperimentProgress(ExperimentPhase.Searching));
            search = AutoSearch.Run(searchSpec, spec.Seed, (candidate, hyper, token) =>
            {
                var fitted = FitOnValidation(candidate, hyper, spec, validation.Value, features, null, token);
                return (fitted.Ndcg, fitted.Model.BestEpoch);
            }, new InlineProgress<AutoTrial>(t => progress?.Report(new ExperimentProgress(ExperimentPhase.Searching, Trial: t))), cancellation);
            recipe = search.Winner;
            hyperparameters = recipe.Complete(search.Hyperparameters);
            bestEpoch = recipe.EpochParameter is { } e ? int.Parse(hyperparameters[e], CultureInfo.InvariantCulture) : null;
        }
        else if (recipe.Iterative && spec.ValidationRatio > 0)
        {
            progress?.Report(new ExperimentProgress(ExperimentPhase.ChoosingEpochs));
            var selection = FitOnValidation(recipe, hyperparameters, spec, validation.Value, features,
                new InlineProgress<EpochRecord>(e => progress?.Report(new ExperimentProgress(ExperimentPhase.ChoosingEpochs, e))), cancellation).Model;
            history = selection.History.ToList();
            bestEpoch = selection.BestEpoch;
            if (bestEpoch is { } best)
                hyperparameters[recipe.EpochParameter!] = best.ToString(CultureInfo.InvariantCulture);
        }

        progress?.Report(new ExperimentProgress(ExperimentPhase.Training));
        var model = recipe.Create(hyperparameters, spec.ExcludeSeen);
        var prepared = model.Prepare(split.Train);
        var fitMatrix = ReferenceEquals(prepared, split.Train) ? train : prepared.ToMatrix();
        var clock = Stopwatch.StartNew();
        model.Fit(fitMatrix, new FitOptions
        {
            Seed = spec.Seed,
            Features = features,
            Cancellation = cancellation,
            Progress = new InlineProgress<EpochRecord>(e => progress?.Report(new ExperimentProgress(ExperimentPhase.Training, e))),
        });
        var trainSeconds = clock.Elapsed.TotalSeconds;
        if (history.Count == 0)
            history = model.History.ToList();

        progress?.Report(new ExperimentProgress(ExperimentPhase.Evaluating));
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
        return new ExperimentResult(model, recipe, hyperparameters, split, metrics, baseline, history, bestEpoch, trainSeconds, split.Train.Count, search);
    }

    /// <summary>The training part split again: what the model fits on, and the held-out slice that judges it.</summary>
    private sealed record ValidationSlice(CsrMatrix Train, Evaluator Evaluator, InteractionSet TrainSet, InteractionSet ValidationSet);

    /// <summary>Fits on the training part minus the validation slice (early-stopped on it when iterative) and scores the slice.</summary>
    private static (Recommender Model, double Ndcg) FitOnValidation(RecipeDescriptor recipe, IReadOnlyDictionary<string, string> hyperparameters,
        ExperimentSpec spec, ValidationSlice slice, SideFeatures? features, IProgress<EpochRecord>? progress, CancellationToken cancellation)
    {
        var model = recipe.Create(hyperparameters, spec.ExcludeSeen);
        // Prepared the recipe's way (a rating model validates on ratings, not on event weights).
        model.Validation = model.Prepare(slice.ValidationSet).ToMatrix();
        var prepared = model.Prepare(slice.TrainSet);
        var matrix = ReferenceEquals(prepared, slice.TrainSet) ? slice.Train : prepared.ToMatrix();
        model.Fit(matrix, new FitOptions
        {
            Seed = spec.Seed,
            Features = features,
            ValidationNdcg = recipe.Iterative ? m => slice.Evaluator.Ndcg(m) : null,
            Patience = spec.Patience,
            Cancellation = cancellation,
            Progress = progress,
        });
        // An early-stopped model keeps its best epoch's state, so this is the best epoch's score.
        return (model, slice.Evaluator.Ndcg(model));
    }
}

/// <summary>An IProgress that reports on the calling thread (Progress&lt;T&gt; would post to the thread pool, out of order).</summary>
public sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
