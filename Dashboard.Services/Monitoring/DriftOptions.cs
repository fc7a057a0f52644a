using System.ComponentModel.DataAnnotations;

namespace Recs.Services.Monitoring;

/// <summary>The <c>Drift</c> configuration section: when the champion's health check warns, and how often it runs.</summary>
public sealed class DriftOptions
{
    public const string Section = "Drift";

    /// <summary>Warn when more than this share of the events since training come from users with no event in the training data.</summary>
    [Range(0.0, 1.0, ErrorMessage = "Drift:NewUserShare must be between 0 and 1.")]
    public double NewUserShare { get; set; } = 0.25;

    /// <summary>Warn when more than this share of the events since training are on products with no event in the training data.</summary>
    [Range(0.0, 1.0, ErrorMessage = "Drift:NewItemShare must be between 0 and 1.")]
    public double NewItemShare { get; set; } = 0.20;

    /// <summary>Warn when the category mix of the events since training is further than this (total variation distance) from the training data's.</summary>
    [Range(0.0, 1.0, ErrorMessage = "Drift:CategoryShift must be between 0 and 1.")]
    public double CategoryShift { get; set; } = 0.20;

    /// <summary>Warn when the champion's NDCG@10 replayed on the last days is lower than its offline test figure by more than this share.</summary>
    [Range(0.0, 1.0, ErrorMessage = "Drift:NdcgDrop must be between 0 and 1.")]
    public double NdcgDrop { get; set; } = 0.30;

    /// <summary>Below this many events since training the data-drift shares are not judged ("not enough new data yet").</summary>
    [Range(1, int.MaxValue, ErrorMessage = "Drift:MinEvents must be at least 1.")]
    public int MinEvents { get; set; } = 200;

    /// <summary>Below this many users to replay the NDCG@10 comparison is not judged.</summary>
    [Range(1, int.MaxValue, ErrorMessage = "Drift:MinReplayUsers must be at least 1.")]
    public int MinReplayUsers { get; set; } = 30;

    /// <summary>How many of the most recent days (up to the newest event) the NDCG@10 replay covers.</summary>
    [Range(1, 90, ErrorMessage = "Drift:ReplayDays must be between 1 and 90.")]
    public int ReplayDays { get; set; } = 7;

    /// <summary>Hours between scheduled checks (0 = never on a schedule; the pages can still check on demand).</summary>
    [Range(0, 24 * 30, ErrorMessage = "Drift:CheckHours must be between 0 and 720.")]
    public double CheckHours { get; set; } = 24;

    /// <summary>Seconds after start before the first scheduled check.</summary>
    [Range(0, 24 * 3600, ErrorMessage = "Drift:FirstCheckSeconds must be between 0 and 86400.")]
    public int FirstCheckSeconds { get; set; } = 60;

    /// <summary>Checks older than this many days are deleted.</summary>
    [Range(1, 3650, ErrorMessage = "Drift:KeepDays must be between 1 and 3650.")]
    public int KeepDays { get; set; } = 90;
}
