using Recs.Services.Engine;

namespace Recs.Services.Models;

/// <summary>
/// The recipes Recs knows, by name: the only place that lists them. Each recipe's descriptor (hyperparameters with
/// defaults, ranges and search ranges, factory, iterative or not, fold-in, cold start) sits beside its code in
/// Engine/; adding a recipe is that file plus one line here. <c>auto</c> is not a model but a procedure over the
/// others (a search on validation data): it has its own settings, <see cref="AutoDescriptor"/>.
/// </summary>
public static class RecipeCatalog
{
    public const string Auto = "auto";

    /// <summary>Every trainable recipe, in the order pages list them.</summary>
    public static readonly IReadOnlyList<RecipeDescriptor> All =
    [
        AlsRecommender.Descriptor,
        EaseRecommender.Descriptor,
        Rp3BetaRecommender.Descriptor,
        ItemKnnRecommender.Descriptor,
        UserKnnRecommender.Descriptor,
        PopularityRecommender.Descriptor,
        GroupPopularityRecommender.RegionDescriptor,
        GroupPopularityRecommender.CategoryDescriptor,
        BprRecommender.Descriptor,
        HybridRecommender.Descriptor,
        RatingMfRecommender.Descriptor,
        AlsRecommender.RankingDescriptor,
        Engine.Neural.NcfHybridRecommender.Descriptor,
        Engine.Neural.MultVaeRecommender.Descriptor,
        Engine.Neural.SasRecRecommender.Descriptor,
    ];

    /// <summary>Settings of <c>auto</c>: how many trials, how long, how many at once.</summary>
    public static readonly RecipeDescriptor AutoDescriptor = new(Auto,
        "Chooses and tunes a recipe by a Bayesian search on a validation slice of the training period, refits the winner and tests it once.",
        [
            new("trials", 20, 1, 500, Integer: true, Help: "search trials over every recipe that fits the data"),
            new("budget-seconds", 600, 5, 86_400, Integer: true, Help: "the search stops starting trials after this long"),
            new("parallel", 2, 1, 16, Integer: true, Help: "trials run at once"),
        ],
        _ => throw new InvalidOperationException("auto is a search, not a model: use AutoSearch."))
    {
        AutoCandidate = false,
    };

    /// <summary>Names offered to people: auto first, then every recipe.</summary>
    public static readonly IReadOnlyList<string> Names = [Auto, .. All.Select(r => r.Name)];

    public static bool Exists(string name) => Names.Contains(name);

    /// <summary>The descriptor of a recipe or of auto; unknown names throw <see cref="ArgumentException"/> listing the known ones.</summary>
    public static RecipeDescriptor Get(string name) =>
        name == Auto ? AutoDescriptor
        : All.FirstOrDefault(r => r.Name == name) ?? throw new ArgumentException($"Unknown recipe '{name}'; use one of {string.Join(", ", Names)}.");

    /// <summary>The recipes auto considers for data of this shape, a campaign and a budget, with the reasons the others were left out.</summary>
    public static (IReadOnlyList<RecipeDescriptor> Candidates, IReadOnlyDictionary<string, string> LeftOut) AutoCandidates(DataShape shape,
        string campaign = ModelUses.UserRecommendations, double budgetSeconds = 600)
    {
        var candidates = new List<RecipeDescriptor>();
        var leftOut = new Dictionary<string, string>();
        foreach (var recipe in All.Where(r => r.AutoCandidate))
        {
            if (!recipe.Serves.Contains(campaign))
                leftOut[recipe.Name] = $"cannot serve {campaign}";
            else if (recipe.Refuses(shape) is { } reason)
                leftOut[recipe.Name] = reason;
            else if (recipe.AutoLeavesOut(shape, budgetSeconds) is { } slow)
                leftOut[recipe.Name] = slow;
            else
                candidates.Add(recipe);
        }
        return (candidates, leftOut);
    }

    /// <summary>Makes a recipe by name from text hyperparameters (validated).</summary>
    public static Recommender Create(string recipe, IReadOnlyDictionary<string, string>? hyperparameters = null, bool excludeSeen = true) =>
        Get(recipe).Create(hyperparameters, excludeSeen);

    /// <summary>Reads a model written by <see cref="Save"/>.</summary>
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

    /// <summary>The model's bytes: recipe, options, hyperparameters, then the recipe's own state.</summary>
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
}
