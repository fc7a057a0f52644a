using System.Globalization;

namespace Recs.Services.Monitoring;

/// <summary>What a health check concluded about the champion.</summary>
public static class HealthStatus
{
    /// <summary>No interaction since the champion's training data ended: nothing to judge.</summary>
    public const string NoNewData = "no-new-data";

    /// <summary>Some new data, too little to judge any signal.</summary>
    public const string TooFewData = "too-few-data";

    public const string Healthy = "healthy";

    /// <summary>At least one signal crossed its threshold.</summary>
    public const string Drifting = "drifting";
}

/// <summary>One signal's state.</summary>
public static class SignalState
{
    public const string Ok = "ok";
    public const string Crossed = "crossed";
    public const string TooFew = "too-few";

    /// <summary>The signal cannot apply to this data (a catalogue without categories has no mix to shift).</summary>
    public const string NotApplicable = "not-applicable";
}

/// <summary>The four signals, by key.</summary>
public static class HealthSignals
{
    public const string NewUsers = "new-users";
    public const string NewItems = "new-items";
    public const string CategoryMix = "category-mix";
    public const string Ndcg = "ndcg";
}

/// <summary>A category's share of the events in the training data and since.</summary>
public sealed record CategoryShare(string Category, double Trained, double Recent);

/// <summary>
/// The raw figures of a check. The window is every event of a type training weighs (Training:EventWeights) after
/// <see cref="TrainedThrough"/>, the newest event the champion's training data held; a new user (product) is one with
/// no such event in the training data. The replay covers the events after <see cref="ReplayFrom"/> up to the newest.
/// </summary>
public sealed record DriftFigures(
    DateTime TrainedThrough, DateTime? LatestEvent, long Events, long Users, long NewUsers, long NewUserEvents, long Items, long NewItems, long NewItemEvents,
    double CategoryDistance, IReadOnlyList<CategoryShare> Categories,
    DateTime? ReplayFrom, int ReplayDays, int ReplayUsers, double? ReplayedNdcg, double? OfflineNdcg)
{
    public double NewUserShare => DriftStatistics.Share(NewUserEvents, Events);

    public double NewItemShare => DriftStatistics.Share(NewItemEvents, Events);

    /// <summary>How much lower the replayed NDCG@10 is than the offline test figure, relatively (negative: higher).</summary>
    public double? NdcgDrop => ReplayedNdcg is { } r && OfflineNdcg is { } o ? DriftStatistics.RelativeDrop(r, o) : null;
}

/// <summary>One signal of a check, with the sentence the pages show and its figure in short ("38 %", "0.0612 vs 0.1180 offline").</summary>
public sealed record HealthSignal(string Key, string Label, double? Value, double Threshold, string State, string Message, string Figure = "—")
{
    public bool IsCrossed => State == SignalState.Crossed;
}

/// <summary>A health check of one version: its figures, each signal against its threshold, and the verdict.</summary>
public sealed record HealthReport(string Version, string Recipe, DateTime CheckedAt, double Seconds, string Status, DriftFigures Figures, IReadOnlyList<HealthSignal> Signals)
{
    public IReadOnlyList<HealthSignal> Crossed => Signals.Where(s => s.IsCrossed).ToList();

    /// <summary>Judges the figures against the thresholds.</summary>
    public static HealthReport Judge(string version, string recipe, DateTime checkedAt, double seconds, DriftFigures f, DriftOptions o)
    {
        var enough = f.Events >= o.MinEvents;
        var tooFewEvents = $"Not enough new data yet: {N(f.Events)} events since training (judged from {N(o.MinEvents)})";
        var signals = new List<HealthSignal>
        {
            Share(HealthSignals.NewUsers, "Events from new users", f.NewUserShare, o.NewUserShare,
                $"{P(f.NewUserShare)} of events since training come from users the model has never seen ({N(f.NewUsers)} users; threshold {P(o.NewUserShare)})"),
            Share(HealthSignals.NewItems, "Events on new products", f.NewItemShare, o.NewItemShare,
                $"{P(f.NewItemShare)} of events since training are on products the model has never seen ({N(f.NewItems)} products; threshold {P(o.NewItemShare)})"),
            f.Categories.Count < 2
                ? new(HealthSignals.CategoryMix, "Category mix shift", null, o.CategoryShift, SignalState.NotApplicable,
                    "The products have one category or none: there is no category mix to compare")
                : Share(HealthSignals.CategoryMix, "Category mix shift", f.CategoryDistance, o.CategoryShift,
                $"The category mix since training is {P(f.CategoryDistance)} away from the training data's (total variation distance; threshold {P(o.CategoryShift)})" +
                (f.Categories.Count > 0 ? $"; most moved: {string.Join(", ", f.Categories.Take(3).Select(c => $"{c.Category} {P(c.Trained)} → {P(c.Recent)}"))}" : "")),
            Ndcg(),
        };
        var status = f.Events == 0 ? HealthStatus.NoNewData
            : signals.Any(s => s.IsCrossed) ? HealthStatus.Drifting
            : signals.All(s => s.State is SignalState.TooFew or SignalState.NotApplicable) ? HealthStatus.TooFewData
            : HealthStatus.Healthy;
        return new HealthReport(version, recipe, checkedAt, seconds, status, f, signals);

        HealthSignal Share(string key, string label, double value, double threshold, string message) => enough
            ? new(key, label, value, threshold, value > threshold ? SignalState.Crossed : SignalState.Ok, message, P(value))
            : new(key, label, null, threshold, SignalState.TooFew, tooFewEvents);

        HealthSignal Ndcg()
        {
            const string label = "NDCG@10, last days vs offline";
            if (f.OfflineNdcg is not > 0)
                return new(HealthSignals.Ndcg, label, null, o.NdcgDrop, SignalState.TooFew, "The champion has no offline test NDCG@10 to compare with");
            if (f.ReplayUsers < o.MinReplayUsers || f.NdcgDrop is not { } drop)
                return new(HealthSignals.Ndcg, label, null, o.NdcgDrop, SignalState.TooFew,
                    $"Not enough new data yet to replay: {N(f.ReplayUsers)} users with earlier history were active in the last {f.ReplayDays} days (judged from {N(o.MinReplayUsers)})");
            var direction = drop >= 0 ? $"{P(drop)} lower" : $"{P(-drop)} higher";
            // The replay never reaches back before training ended, so right after training it covers fewer days than configured.
            var days = f.ReplayFrom is { } rf && f.LatestEvent is { } le ? Math.Max(1, (int)Math.Ceiling((le - rf).TotalDays)) : f.ReplayDays;
            return new(HealthSignals.Ndcg, label, drop, o.NdcgDrop, drop > o.NdcgDrop ? SignalState.Crossed : SignalState.Ok,
                $"NDCG@10 replayed on the last {days} day{(days == 1 ? "" : "s")} is {F(f.ReplayedNdcg!.Value)} against {F(f.OfflineNdcg.Value)} offline: {direction} ({N(f.ReplayUsers)} users; threshold {P(o.NdcgDrop)} lower)",
                $"{F(f.ReplayedNdcg!.Value)} vs {F(f.OfflineNdcg.Value)}");
        }
    }

    public static string P(double share) => (share * 100).ToString("F0", CultureInfo.InvariantCulture) + " %";

    private static string N(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    private static string F(double x) => x.ToString("F4", CultureInfo.InvariantCulture);
}
