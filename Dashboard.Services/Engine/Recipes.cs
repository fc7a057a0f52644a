using System.Globalization;

namespace Recs.Services.Engine;

/// <summary>The recipes by name, made from string hyperparameters (CLI, form, registry) with clear errors.</summary>
public static class Recipes
{
    public static readonly string[] Names =
        [PopularityRecommender.Name, ItemKnnRecommender.Name, AlsRecommender.Name, AlsRecommender.RankingName, BprRecommender.Name,
         RatingMfRecommender.Name, HybridRecommender.Name];

    /// <summary>Hyperparameters each recipe accepts, with defaults.</summary>
    public static IReadOnlyDictionary<string, string> Defaults(string recipe) => recipe switch
    {
        PopularityRecommender.Name => new Dictionary<string, string> { ["half-life-days"] = "0" },
        ItemKnnRecommender.Name => new Dictionary<string, string> { ["neighbours"] = "50", ["shrink"] = "10" },
        AlsRecommender.Name or AlsRecommender.RankingName => new Dictionary<string, string>
        {
            ["factors"] = "64", ["iterations"] = "15", ["regularization"] = "0.05", ["alpha"] = "10", ["cg-steps"] = "3",
        },
        BprRecommender.Name => new Dictionary<string, string>
        {
            ["factors"] = "64", ["epochs"] = "30", ["learning-rate"] = "0.05", ["regularization"] = "0.002",
        },
        RatingMfRecommender.Name => new Dictionary<string, string>
        {
            ["factors"] = "32", ["epochs"] = "20", ["learning-rate"] = "0.005", ["regularization"] = "0.02",
        },
        HybridRecommender.Name => new Dictionary<string, string>
        {
            ["factors"] = "64", ["epochs"] = "30", ["learning-rate"] = "0.05", ["regularization"] = "0", ["max-sampled"] = "10",
        },
        _ => throw new ArgumentException($"Unknown recipe '{recipe}'; use one of {string.Join(", ", Names)}."),
    };

    /// <summary>Makes a recipe; unknown names and out-of-range values throw <see cref="ArgumentException"/> saying which.</summary>
    public static Recommender Create(string recipe, IReadOnlyDictionary<string, string>? hyperparameters = null, bool excludeSeen = true)
    {
        var p = new Dictionary<string, string>(Defaults(recipe));
        foreach (var (key, value) in hyperparameters ?? new Dictionary<string, string>())
        {
            if (!p.ContainsKey(key))
                throw new ArgumentException($"Recipe '{recipe}' has no hyperparameter '{key}'" +
                    (p.Count == 0 ? "." : $"; it takes {string.Join(", ", p.Keys)}."));
            p[key] = value;
        }
        return recipe switch
        {
            PopularityRecommender.Name => new PopularityRecommender(Float(p, "half-life-days", 0, 36500)) { ExcludeSeen = excludeSeen },
            ItemKnnRecommender.Name => new ItemKnnRecommender(Int(p, "neighbours", 1, 1000), Float(p, "shrink", 0, 1e6f)) { ExcludeSeen = excludeSeen },
            AlsRecommender.Name or AlsRecommender.RankingName => new AlsRecommender(
                Int(p, "factors", 1, 1024), Int(p, "iterations", 1, 500), Float(p, "regularization", 0, 1e4f),
                Float(p, "alpha", 0, 1e6f), Int(p, "cg-steps", 1, 50), recipe) { ExcludeSeen = excludeSeen },
            BprRecommender.Name => new BprRecommender(
                Int(p, "factors", 1, 1024), Int(p, "epochs", 1, 1000), Float(p, "learning-rate", 1e-6f, 10), Float(p, "regularization", 0, 10))
                { ExcludeSeen = excludeSeen },
            RatingMfRecommender.Name => new RatingMfRecommender(
                Int(p, "factors", 1, 1024), Int(p, "epochs", 1, 1000), Float(p, "learning-rate", 1e-6f, 1), Float(p, "regularization", 0, 10))
                { ExcludeSeen = excludeSeen },
            HybridRecommender.Name => new HybridRecommender(
                Int(p, "factors", 1, 1024), Int(p, "epochs", 1, 1000), Float(p, "learning-rate", 1e-6f, 10), Float(p, "regularization", 0, 10),
                Int(p, "max-sampled", 1, 1000)) { ExcludeSeen = excludeSeen },
            _ => throw new ArgumentException($"Unknown recipe '{recipe}'; use one of {string.Join(", ", Names)}."),
        };
    }

    /// <summary>Reads a model artifact written by <see cref="Save"/>.</summary>
    public static Recommender Load(byte[] artifact)
    {
        using var reader = new BinaryReader(new MemoryStream(artifact));
        var recipe = reader.ReadString();
        var excludeSeen = reader.ReadBoolean();
        var count = reader.ReadInt32();
        var hyper = new Dictionary<string, string>();
        for (var k = 0; k < count; k++)
            hyper[reader.ReadString()] = reader.ReadString();
        var model = Create(recipe, hyper, excludeSeen);
        model.Load(reader);
        return model;
    }

    /// <summary>The artifact: recipe, options, hyperparameters, then the recipe's own state.</summary>
    public static byte[] Save(Recommender model, IReadOnlyDictionary<string, string> hyperparameters)
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream))
        {
            writer.Write(model.Recipe);
            writer.Write(model.ExcludeSeen);
            writer.Write(hyperparameters.Count);
            foreach (var (key, value) in hyperparameters)
            {
                writer.Write(key);
                writer.Write(value);
            }
            model.Save(writer);
        }
        return stream.ToArray();
    }

    private static int Int(Dictionary<string, string> p, string key, int min, int max) =>
        int.TryParse(p[key], NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= min && v <= max
            ? v
            : throw new ArgumentException($"{key} must be a whole number from {min} to {max}, not '{p[key]}'.");

    private static float Float(Dictionary<string, string> p, string key, float min, float max) =>
        float.TryParse(p[key], NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v >= min && v <= max && float.IsFinite(v)
            ? v
            : throw new ArgumentException($"{key} must be a number from {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}, not '{p[key]}'.");
}
