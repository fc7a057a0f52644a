using Recs.Services.Monitoring;

namespace Recs.Tests.Unit;

/// <summary>The drift figures against values worked out by hand, and how a report judges them against the thresholds.</summary>
public sealed class DriftStatisticsTests
{
    [Fact]
    public void Total_variation_distance_matches_the_hand_computed_value()
    {
        // p = (0.5, 0.3, 0.2, 0), q = (0.2, 0.3, 0.1, 0.4): ½ (0.3 + 0 + 0.1 + 0.4) = 0.4.
        var trained = new Dictionary<string, long> { ["Toys"] = 50, ["Books"] = 30, ["Garden"] = 20 };
        var recent = new Dictionary<string, long> { ["Toys"] = 4, ["Books"] = 6, ["Garden"] = 2, ["Sports"] = 8 };
        Assert.Equal(0.4, DriftStatistics.TotalVariation(trained, recent), 1e-12);
        Assert.Equal(0.4, DriftStatistics.TotalVariation(recent, trained), 1e-12);

        // The same mix at another scale is no shift; disjoint categories are the whole way.
        Assert.Equal(0, DriftStatistics.TotalVariation(trained, trained.ToDictionary(c => c.Key, c => c.Value * 7)), 1e-12);
        Assert.Equal(1, DriftStatistics.TotalVariation(new Dictionary<string, long> { ["A"] = 3 }, new Dictionary<string, long> { ["B"] = 5 }), 1e-12);
        Assert.Equal(0, DriftStatistics.TotalVariation(trained, new Dictionary<string, long>()));
    }

    [Fact]
    public void Shares_and_relative_drop_match_the_hand_computed_values()
    {
        Assert.Equal(0.38, DriftStatistics.Share(38, 100), 1e-12);
        Assert.Equal(0, DriftStatistics.Share(5, 0));
        // (0.12 − 0.06) / 0.12 = 0.5; a rise is a negative drop; no reference, no drop.
        Assert.Equal(0.5, DriftStatistics.RelativeDrop(0.06, 0.12)!.Value, 1e-12);
        Assert.Equal(-0.25, DriftStatistics.RelativeDrop(0.15, 0.12)!.Value, 1e-12);
        Assert.Null(DriftStatistics.RelativeDrop(0.1, 0));
    }

    private static DriftFigures Figures(long events = 1000, long newUserEvents = 100, long newItemEvents = 50, double distance = 0.05,
        int replayUsers = 200, double? replayed = 0.10, double? offline = 0.12) =>
        new(new DateTime(2026, 10, 1, 0, 0, 0, DateTimeKind.Utc), new DateTime(2026, 10, 31, 0, 0, 0, DateTimeKind.Utc), events, 400, 40, newUserEvents, 100, 5, newItemEvents,
            distance, [new CategoryShare("Toys", 0.08, 0.35), new CategoryShare("Books", 0.30, 0.20)],
            new DateTime(2026, 10, 24, 0, 0, 0, DateTimeKind.Utc), 7, replayUsers, replayed, offline);

    private static HealthReport Judge(DriftFigures f) => HealthReport.Judge("1.2.0", "als", DateTime.UnixEpoch, 0.1, f, new DriftOptions());

    [Fact]
    public void A_window_below_every_threshold_is_healthy()
    {
        var report = Judge(Figures());

        Assert.Equal(HealthStatus.Healthy, report.Status);
        Assert.All(report.Signals, s => Assert.Equal(SignalState.Ok, s.State));
        Assert.Equal(0.1, report.Signals.Single(s => s.Key == HealthSignals.NewUsers).Value!.Value, 1e-12);
        // (0.12 − 0.10) / 0.12
        Assert.Equal(1 / 6.0, report.Signals.Single(s => s.Key == HealthSignals.Ndcg).Value!.Value, 1e-12);
    }

    [Fact]
    public void Each_crossed_threshold_is_named_with_its_figures()
    {
        var report = Judge(Figures(newUserEvents: 380, newItemEvents: 210, distance: 0.31, replayed: 0.06));

        Assert.Equal(HealthStatus.Drifting, report.Status);
        Assert.Equal([HealthSignals.NewUsers, HealthSignals.NewItems, HealthSignals.CategoryMix, HealthSignals.Ndcg], report.Crossed.Select(s => s.Key));
        Assert.Equal("38 % of events since training come from users the model has never seen (40 users; threshold 25 %)", report.Crossed[0].Message);
        Assert.Equal("21 % of events since training are on products the model has never seen (5 products; threshold 20 %)", report.Crossed[1].Message);
        Assert.Equal("The category mix since training is 31 % away from the training data's (total variation distance; threshold 20 %); most moved: Toys 8 % → 35 %, Books 30 % → 20 %",
            report.Crossed[2].Message);
        Assert.Equal("NDCG@10 replayed on the last 7 days is 0.0600 against 0.1200 offline: 50 % lower (200 users; threshold 30 % lower)", report.Crossed[3].Message);
    }

    [Fact]
    public void Right_after_training_the_replay_says_how_many_days_it_covers()
    {
        // The newest event is two and a half days after training ended: the replay covers those, not a week.
        var f = Figures() with { ReplayFrom = new DateTime(2026, 10, 28, 12, 0, 0, DateTimeKind.Utc) };

        Assert.StartsWith("NDCG@10 replayed on the last 3 days is 0.1000 against 0.1200 offline: 17 % lower", Judge(f).Signals[3].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void At_the_threshold_is_not_crossed_and_above_it_is()
    {
        Assert.Equal(SignalState.Ok, Judge(Figures(newUserEvents: 250)).Signals.Single(s => s.Key == HealthSignals.NewUsers).State);
        Assert.Equal(SignalState.Crossed, Judge(Figures(newUserEvents: 251)).Signals.Single(s => s.Key == HealthSignals.NewUsers).State);
    }

    [Fact]
    public void Too_few_new_events_says_so_instead_of_alarming()
    {
        // Every share would cross, but 150 events are below Drift:MinEvents (200) and 12 users below Drift:MinReplayUsers (30).
        var report = Judge(Figures(events: 150, newUserEvents: 150, newItemEvents: 150, distance: 0.9, replayUsers: 12, replayed: 0));

        Assert.Equal(HealthStatus.TooFewData, report.Status);
        Assert.Empty(report.Crossed);
        Assert.All(report.Signals, s => Assert.Equal(SignalState.TooFew, s.State));
        Assert.Equal("Not enough new data yet: 150 events since training (judged from 200)", report.Signals[0].Message);
        Assert.StartsWith("Not enough new data yet to replay: 12 users", report.Signals[3].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_catalogue_without_categories_has_no_mix_to_judge()
    {
        // As Online Retail: every product in "(none)", so the distance is 0 by construction, not because nothing moved.
        var report = Judge(Figures(distance: 0) with { Categories = [new CategoryShare("(none)", 1, 1)] });

        var mix = report.Signals.Single(s => s.Key == HealthSignals.CategoryMix);
        Assert.Equal(SignalState.NotApplicable, mix.State);
        Assert.Null(mix.Value);
        Assert.Equal(HealthStatus.Healthy, report.Status); // the other three still judge
    }

    [Fact]
    public void No_event_since_training_is_its_own_state()
    {
        var report = Judge(Figures(events: 0, newUserEvents: 0, newItemEvents: 0, distance: 0, replayUsers: 0, replayed: null));

        Assert.Equal(HealthStatus.NoNewData, report.Status);
        Assert.Empty(report.Crossed);
    }
}
