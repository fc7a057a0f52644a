using System.ComponentModel.DataAnnotations;

namespace Recs.Services.Models;

/// <summary>The <c>Experiments</c> configuration section: attribution, the decision rule and the answer log's retention.</summary>
public sealed class ExperimentOptions
{
    public const string Section = "Experiments";

    /// <summary>Event types that count as a click when they name a shown item of the answer they carry the id of.</summary>
    public string[] ClickEventTypes { get; set; } = ["click", "view"];

    /// <summary>The event type that counts as a conversion (its event value as revenue) within the window after a shown list.</summary>
    [Required(ErrorMessage = "Experiments:ConversionEventType is required.")]
    public string ConversionEventType { get; set; } = "purchase";

    /// <summary>How long after a list was shown a purchase by that user counts as its conversion.</summary>
    [Range(0.01, 24 * 90, ErrorMessage = "Experiments:ConversionWindowHours must be between 0.01 and 2160.")]
    public double ConversionWindowHours { get; set; } = 24;

    /// <summary>Each arm needs at least this many exposed users before the page names a winner.</summary>
    [Range(1, 10_000_000, ErrorMessage = "Experiments:MinUsersPerArm must be between 1 and 10,000,000.")]
    public int MinUsersPerArm { get; set; } = 100;

    /// <summary>Each arm needs at least this many converted users before the page names a winner.</summary>
    [Range(0, 10_000_000, ErrorMessage = "Experiments:MinConversionsPerArm must be between 0 and 10,000,000.")]
    public int MinConversionsPerArm { get; set; } = 10;

    /// <summary>The two-sided significance level of the decision.</summary>
    [Range(0.0001, 0.5, ErrorMessage = "Experiments:Alpha must be between 0.0001 and 0.5.")]
    public double Alpha { get; set; } = 0.05;

    /// <summary>Days the answer log keeps a row (rows of a running experiment are kept until it stops).</summary>
    [Range(1, 3650, ErrorMessage = "Experiments:RetentionDays must be between 1 and 3650.")]
    public int RetentionDays { get; set; } = 30;

    /// <summary>How often the answer log writes what it has gathered (one COPY per batch), in milliseconds.</summary>
    [Range(10, 60_000, ErrorMessage = "Experiments:FlushMilliseconds must be between 10 and 60000.")]
    public int FlushMilliseconds { get; set; } = 250;
}
