using System.ComponentModel.DataAnnotations;

namespace Recs.Services.Models;

/// <summary>The <c>Training</c> configuration section.</summary>
public sealed class TrainingOptions
{
    public const string Section = "Training";

    /// <summary>Weight of each event type in the interaction matrix; types not listed weigh 0 (ignored).</summary>
    public Dictionary<string, float> EventWeights { get; set; } = new() { ["purchase"] = 1f, ["add-to-cart"] = 0.5f, ["view"] = 0.1f };

    /// <summary>How many recommendations batch inference writes per user and similar items per product.</summary>
    [Range(1, 500, ErrorMessage = "Training:TopN must be between 1 and 500.")]
    public int TopN { get; set; } = 25;

    /// <summary>Hours between scheduled refreshes of the serving cache (0 = never on a schedule).</summary>
    [Range(0, 24 * 30, ErrorMessage = "Training:BatchRefreshHours must be between 0 and 720.")]
    public double BatchRefreshHours { get; set; } = 6;

    /// <summary>On a database with interactions and no model yet (first start), train the first models in the background.</summary>
    public bool FirstModel { get; set; } = true;

    /// <summary>How long the first model's search may take: first start should show recommendations within two minutes.</summary>
    [Range(5, 3600, ErrorMessage = "Training:FirstModelBudgetSeconds must be between 5 and 3600.")]
    public int FirstModelBudgetSeconds { get; set; } = 45;
}
