using System.Globalization;
using System.Text.Json;
using Recs.Services.Engine;
using Recs.Services.Ingestion;
using Recs.Services.Models;

namespace Recs.Dashboard.Cli;

/// <summary><c>evaluate</c>: offline evaluation of a recipe on a Personalize interactions file, as one JSON object.</summary>
public static class EvaluateCommand
{
    private static readonly HashSet<string> OwnOptions =
        ["interactions", "online-retail", "recipe", "split", "test-ratio", "k", "seed", "event-weights", "allow-repeats", "validation-ratio", "patience"];

    public static async Task<int> RunAsync(Verb verb, TextWriter stdout)
    {
        var path = verb.Get("interactions") ?? verb.Get("online-retail")
            ?? throw new CommandLineException("evaluate needs --interactions FILE (an AWS Personalize interactions CSV) or --online-retail FILE (the UCI Online Retail export).");
        var recipe = verb.Get("recipe") ?? RecipeCatalog.Auto;
        if (!RecipeCatalog.Exists(recipe))
            throw new CommandLineException($"--recipe must be one of {string.Join(", ", RecipeCatalog.Names)}, not '{recipe}'.");
        var split = verb.Get("split") ?? Splits.Temporal;
        if (!Splits.All.Contains(split))
            throw new CommandLineException($"--split must be one of {string.Join(", ", Splits.All)}, not '{split}'.");
        var testRatio = Ratio(verb, "test-ratio", 0.2, exclusiveZero: true);
        var validationRatio = Ratio(verb, "validation-ratio", 0.1, exclusiveZero: false);
        var k = verb.GetInt("k", 10);
        if (k is < 1 or > 1000)
            throw new CommandLineException("--k must be from 1 to 1000.");

        // Every other --option is a hyperparameter of the recipe (for auto: trials, budget-seconds, parallel); unknown ones are refused by name.
        var descriptor = RecipeCatalog.Get(recipe);
        var hyper = verb.Options.Where(o => !OwnOptions.Contains(o.Key) && !o.Key.Contains(':', StringComparison.Ordinal))
            .ToDictionary(o => o.Key, o => o.Value);
        AutoSearchSpec? search = null;
        try
        {
            var values = descriptor.Resolve(hyper);
            if (recipe == RecipeCatalog.Auto)
                search = new AutoSearchSpec { Candidates = [], Trials = (int)values["trials"], BudgetSeconds = values["budget-seconds"], Parallel = (int)values["parallel"] };
        }
        catch (ArgumentException e)
        {
            throw new CommandLineException(e.Message, e);
        }
        var spec = new ExperimentSpec
        {
            Recipe = search is null ? descriptor : RecipeCatalog.All[0],
            Hyperparameters = search is null ? hyper : new Dictionary<string, string>(),
            Split = split,
            TestRatio = testRatio,
            K = k,
            Seed = (ulong)verb.GetInt("seed", 42),
            ExcludeSeen = verb.Get("allow-repeats") is null or "false",
            ValidationRatio = validationRatio,
            Patience = verb.GetInt("patience", 3),
        };

        LoadedInteractions data;
        SideFeatures? features = null;
        if (verb.Get("interactions") is not null)
        {
            data = PersonalizeInteractionsFile.Read(path, ParseWeights(verb.Get("event-weights")));
        }
        else
        {
            // The export's only attribute: each customer's country, which is their region (as the importer has it).
            var retail = OnlineRetailFile.ReadPurchases(path);
            data = retail.Interactions;
            var (countries, names) = SideFeatures.OneHot(data.Set.Users, ("region", retail.CountryOfUser));
            features = SideFeatures.None(data.Set.Users, data.Set.Items) with { UserFeatures = countries, UserFeatureNames = names };
        }
        if (search is not null)
        {
            var (candidates, leftOut) = RecipeCatalog.AutoCandidates(new DataShape(data.Set.Users, data.Set.Items, data.Set.Count, data.Set.Value is not null, features is not null), budgetSeconds: search.BudgetSeconds);
            spec = spec with { Search = search with { Candidates = candidates, LeftOut = leftOut } };
        }
        ExperimentResult result;
        try
        {
            result = Experiment.Run(data.Set, spec, features: features);
        }
        catch (ArgumentException e)
        {
            throw new CommandLineException(e.Message, e);
        }

        var json = new
        {
            recipe = result.Recipe.Name,
            requested = recipe,
            split,
            k,
            users = data.Set.Users,
            items = data.Set.Items,
            train_interactions = result.TrainInteractions,
            test_interactions = result.Split.Test.Count,
            test_users = result.Metrics.TestUsers,
            train_seconds = Math.Round(result.TrainSeconds, 3),
            seed = spec.Seed,
            hyperparameters = result.Hyperparameters,
            best_epoch = result.BestEpoch,
            metrics = WithDiversity(result.Metrics.Metrics, k),
            baseline = WithDiversity(result.Baseline.Metrics, k),
            history = result.History.Select(h => new
            {
                epoch = h.Epoch,
                train_loss = h.TrainLoss,
                validation_loss = h.ValidationLoss,
                validation_ndcg_at_10 = h.ValidationNdcg,
                seconds = Math.Round(h.Seconds, 4),
            }),
            search = result.Search is { } found ? Recs.Services.Training.TrainingService.SearchRecord(found) : null,
        };
        await stdout.WriteLineAsync(JsonSerializer.Serialize(json));
        return 0;
    }

    // Without item categories diversity is undefined: reported as null rather than left out, so the keys are stable.
    private static Dictionary<string, double?> WithDiversity(IReadOnlyDictionary<string, double> metrics, int k)
    {
        var result = metrics.ToDictionary(m => m.Key, m => (double?)Math.Round(m.Value, 6));
        result.TryAdd($"diversity@{k}", null);
        return result;
    }

    private static double Ratio(Verb verb, string key, double fallback, bool exclusiveZero)
    {
        var raw = verb.Get(key);
        if (raw is null)
            return fallback;
        if (!double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || v >= 1 || v < 0 || (exclusiveZero && v == 0))
            throw new CommandLineException($"--{key} must be a number {(exclusiveZero ? "between 0 and 1" : "from 0 up to 1")} (exclusive), not '{raw}'.");
        return v;
    }

    private static Dictionary<string, float>? ParseWeights(string? raw)
    {
        if (raw is null)
            return null;
        var weights = new Dictionary<string, float>();
        foreach (var part in raw.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var kv = part.Split('=');
            if (kv.Length != 2 || !float.TryParse(kv[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var w) || w < 0)
                throw new CommandLineException($"--event-weights takes type=weight pairs separated by commas (e.g. purchase=1,view=0.2), not '{part}'.");
            weights[kv[0].Trim()] = w;
        }
        return weights;
    }
}
