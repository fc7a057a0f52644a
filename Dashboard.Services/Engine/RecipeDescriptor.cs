using System.Globalization;

namespace Recs.Services.Engine;

/// <summary>
/// One hyperparameter of a recipe: its default, the range a user may set, and (for <c>auto</c>) the range the search
/// explores, on a log scale when the value spans orders of magnitude. Names are kebab-case, as on the command line.
/// </summary>
public sealed record HyperParameter(string Name, double Default, double Min, double Max, bool Integer = false, string Help = "")
{
    /// <summary>Where <c>auto</c> searches (defaults to the whole valid range); null keeps the default fixed.</summary>
    public (double Low, double High)? Search { get; init; }

    /// <summary>Search on a logarithmic scale (regularisation, learning rates, λ).</summary>
    public bool LogScale { get; init; }

    public string DefaultText => Format(Default);

    public string Format(double value) => Integer ? ((long)Math.Round(value)).ToString(CultureInfo.InvariantCulture) : value.ToString("G6", CultureInfo.InvariantCulture);

    /// <summary>Parses a value given as text; out of range or malformed throws <see cref="ArgumentException"/> saying which.</summary>
    public double Parse(string text)
    {
        if (Integer)
        {
            return long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= Min && v <= Max
                ? v
                : throw new ArgumentException($"{Name} must be a whole number from {Format(Min)} to {Format(Max)}, not '{text}'.");
        }
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d) && d >= Min && d <= Max
            ? d
            : throw new ArgumentException($"{Name} must be a number from {Format(Min)} to {Format(Max)}, not '{text}'.");
    }
}

/// <summary>Validated hyperparameter values of one recipe, by name.</summary>
public sealed class HyperValues(IReadOnlyDictionary<string, double> values)
{
    public int Int(string name) => (int)values[name];

    public float Float(string name) => (float)values[name];

    public double Double(string name) => values[name];
}

/// <summary>What the shape of the training data lets a recipe do.</summary>
public sealed record DataShape(int Users, int Items, int Interactions, bool HasRatings = false, bool HasAttributes = false);

/// <summary>What a trained model can serve; the names are the campaigns'.</summary>
public static class ModelUses
{
    public const string UserRecommendations = "user-recommendations";
    public const string SimilarItems = "similar-items";
    public const string PersonalizedRanking = "personalized-ranking";

    public static readonly string[] All = [UserRecommendations, SimilarItems, PersonalizedRanking];
}

/// <summary>
/// Everything the rest of Recs may know about a recipe: its name and description, hyperparameters with defaults,
/// ranges and search ranges, how to make one, whether it trains in epochs (and which hyperparameter counts them),
/// whether it can fold a new event in, whether it scores users without history from their attributes, and when it
/// refuses the data. Each recipe declares its own descriptor next to its code; the model layer's catalogue lists them.
/// </summary>
public sealed record RecipeDescriptor(string Name, string Description, IReadOnlyList<HyperParameter> Parameters, Func<HyperValues, Recommender> Factory)
{
    /// <summary>The hyperparameter that counts epochs, for iterative recipes (early stopping picks it); null for one-pass recipes.</summary>
    public string? EpochParameter { get; init; }

    public bool Iterative => EpochParameter is not null;

    /// <summary>What an iterative recipe's per-epoch training and validation loss is, as charts label it ("MSE" for rating predictors).</summary>
    public string LossName { get; init; } = "loss";

    /// <summary>Can refresh one user's scores from a new event at once (no retraining).</summary>
    public bool CanFoldIn { get; init; }

    /// <summary>Scores users and items with no history from their attributes.</summary>
    public bool ColdStartFromAttributes { get; init; }

    /// <summary>Personal: scores differ by user (popularity is not).</summary>
    public bool Personal { get; init; } = true;

    /// <summary>Campaign uses this recipe's models can serve.</summary>
    public IReadOnlyList<string> Serves { get; init; } = [ModelUses.UserRecommendations, ModelUses.SimilarItems, ModelUses.PersonalizedRanking];

    /// <summary>Why the recipe cannot train on data of this shape, or null when it can.</summary>
    public Func<DataShape, string?> Refuses { get; init; } = _ => null;

    /// <summary>Whether <c>auto</c> considers it (it needs something to search or it is a useful candidate as is).</summary>
    public bool AutoCandidate { get; init; } = true;

    /// <summary>
    /// Why <c>auto</c> leaves this candidate out for data of this shape and a search budget in seconds, or null when it
    /// takes part: for recipes whose trials take minutes (the neural ones), so a search never spends its budget on one.
    /// </summary>
    public Func<DataShape, double, string?> AutoLeavesOut { get; init; } = (_, _) => null;

    /// <summary>The defaults as text, by name.</summary>
    public IReadOnlyDictionary<string, string> Defaults => Parameters.ToDictionary(p => p.Name, p => p.DefaultText);

    /// <summary>
    /// Validates text values (unknown names and out-of-range values throw <see cref="ArgumentException"/> saying which)
    /// and returns every hyperparameter's value, defaults filled in.
    /// </summary>
    public IReadOnlyDictionary<string, double> Resolve(IReadOnlyDictionary<string, string>? given)
    {
        var values = Parameters.ToDictionary(p => p.Name, p => p.Default);
        foreach (var (key, text) in given ?? new Dictionary<string, string>())
        {
            var parameter = Parameters.FirstOrDefault(p => p.Name == key)
                ?? throw new ArgumentException($"Recipe '{Name}' has no hyperparameter '{key}'" +
                    (Parameters.Count == 0 ? "." : $"; it takes {string.Join(", ", Parameters.Select(p => p.Name))}."));
            values[key] = parameter.Parse(text);
        }
        return values;
    }

    /// <summary>All hyperparameters as text (defaults filled in), as the registry records them.</summary>
    public Dictionary<string, string> Complete(IReadOnlyDictionary<string, string>? given)
    {
        var values = Resolve(given);
        return Parameters.ToDictionary(p => p.Name, p => p.Format(values[p.Name]));
    }

    /// <summary>Makes an unfitted model from text hyperparameters.</summary>
    public Recommender Create(IReadOnlyDictionary<string, string>? hyperparameters = null, bool excludeSeen = true)
    {
        var model = Factory(new HyperValues(Resolve(hyperparameters)));
        model.ExcludeSeen = excludeSeen;
        return model;
    }
}
