using System.Globalization;
using System.Text.Json;
using Recs.Services.Engine;
using Recs.Services.Jobs;
using Recs.Services.Models;
using Recs.Services.Training;
using Recs.Services.Verdicts;

namespace Recs.Dashboard.Cli;

/// <summary><c>train</c> and <c>batch</c>: the training job and the cache refresh, headless.</summary>
public static class TrainCommands
{
    private static readonly HashSet<string> OwnOptions = ["recipe", "campaign", "split", "test-ratio", "seed", "from", "to", "no-promote", "allow-repeats"];

    public static async Task<int> TrainAsync(Verb verb, IServiceProvider services, TextWriter stdout)
    {
        var recipe = verb.Get("recipe") ?? RecipeCatalog.Auto;
        var request = new TrainingRequest
        {
            Recipe = recipe,
            Campaign = verb.Get("campaign") ?? Campaigns.UserRecommendations,
            Hyperparameters = verb.Options.Where(o => !OwnOptions.Contains(o.Key) && !o.Key.Contains(':', StringComparison.Ordinal)).ToDictionary(o => o.Key, o => o.Value),
            Split = verb.Get("split") ?? Splits.Temporal,
            TestRatio = double.TryParse(verb.Get("test-ratio") ?? "0.2", NumberStyles.Float, CultureInfo.InvariantCulture, out var r)
                ? r : throw new CommandLineException("--test-ratio must be a number between 0 and 1."),
            Seed = (ulong)verb.GetInt("seed", 42),
            From = Date(verb, "from"),
            To = Date(verb, "to"),
            AutoPromote = verb.Get("no-promote") is null,
            ExcludeSeen = verb.Get("allow-repeats") is null,
            RequestedBy = "cli",
        };
        TrainingOutcome outcome;
        try
        {
            outcome = await services.GetRequiredService<TrainingService>().RunNowAsync(request);
        }
        catch (ArgumentException e)
        {
            throw new CommandLineException(e.Message, e);
        }
        catch (JobAlreadyRunningException e)
        {
            throw new CommandLineException(e.Message, e);
        }
        await stdout.WriteLineAsync(JsonSerializer.Serialize(new
        {
            version = outcome.Version.Version,
            recipe = outcome.Version.Recipe,
            status = outcome.Version.Status,
            promoted = outcome.Promoted,
            reason = outcome.PromotionReason,
            duration_seconds = outcome.Version.DurationMs / 1000.0,
            metrics = JsonDocument.Parse(outcome.Version.Metrics ?? "{}").RootElement,
            baseline = JsonDocument.Parse(outcome.Version.BaselineMetrics ?? "{}").RootElement,
            batch = outcome.Batch is { } b ? new { users = b.Users, products = b.Products, seconds = Math.Round(b.Elapsed.TotalSeconds, 2) } : null,
        }));
        return 0;
    }

    public static async Task<int> PromoteAsync(Verb verb, IServiceProvider services, TextWriter stdout)
    {
        var version = verb.Get("version") ?? throw new CommandLineException("promote needs --version X.Y.Z (see the Models page or the train output).");
        try
        {
            var campaign = verb.Get("campaign") ?? Campaigns.UserRecommendations;
            // The analysts' verdicts replayed against the version before it serves, printed with the result.
            ReplayResult? replay = null;
            try
            {
                replay = await services.GetRequiredService<VerdictReplay>().ReplayAsync(version, campaign);
            }
            catch (KeyNotFoundException)
            {
                // No trained model: the promotion below says why it cannot serve.
            }
            var (promoted, batch) = await services.GetRequiredService<TrainingService>().PromoteAsync(version, "cli", campaign: campaign);
            await stdout.WriteLineAsync(JsonSerializer.Serialize(new
            {
                version = promoted.Version,
                campaign,
                status = promoted.Status,
                cache = campaign == Campaigns.PersonalizedRanking ? "answered live from the model: no cache"
                    : batch is null ? "a batch job was already running; it will not include this version" : $"refreshed: {batch.Users} users, {batch.Products} products",
                verdicts = replay is null ? null : VerdictsJson(replay),
            }));
            return 0;
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or ArgumentException)
        {
            throw new CommandLineException(e.Message, e);
        }
    }

    /// <summary>A replay as the CLI prints it: the counts, a sentence, and the pairs the version disagrees with the analysts on.</summary>
    internal static object VerdictsJson(ReplayResult replay) => new
    {
        summary = replay.Describe(),
        rejected = replay.Rejected,
        rejected_still_recommended = replay.RejectedKept,
        approved = replay.Approved,
        approved_dropped = replay.ApprovedDropped,
        top_n = VerdictReplay.TopN,
        disagreements = replay.Pairs.Where(p => p.Disagrees).Select(p => new
        {
            kind = p.Kind, subject_id = p.SubjectId, subject = p.SubjectName, item_id = p.ItemId, item = p.ItemName, verdict = p.Verdict,
            rank = p.Rank, accounts = p.Accounts,
        }),
    };

    public static async Task<int> BatchAsync(Verb verb, IServiceProvider services, TextWriter stdout)
    {
        BatchResult? result;
        try
        {
            result = await services.GetRequiredService<BatchInference>().RunAsync(verb.Get("campaign"), "cli");
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            throw new CommandLineException(e.Message, e);
        }
        if (result is null)
            throw new CommandLineException("A batch inference job is already running.");
        await stdout.WriteLineAsync(JsonSerializer.Serialize(new
        {
            version = result.Version,
            users = result.Users,
            products = result.Products,
            seconds = Math.Round(result.Elapsed.TotalSeconds, 2),
            users_per_second = Math.Round(result.UsersPerSecond),
        }));
        return 0;
    }

    /// <summary><c>campaigns</c>: each campaign, the version serving it, and whether that is its own or the user-recommendations one.</summary>
    public static async Task<int> CampaignsAsync(IServiceProvider services, TextWriter stdout)
    {
        var registry = services.GetRequiredService<ModelRegistry>();
        var campaigns = await registry.CampaignsAsync();
        var list = new List<object>();
        foreach (var c in campaigns)
        {
            var version = c.Version is null ? null : await registry.GetAsync(c.Version);
            list.Add(new
            {
                name = c.Name,
                version = c.Version,
                own_version = c.OwnVersion is not null,
                recipe = version?.Recipe,
                ndcg_at_10 = version?.Metric("ndcg@10"),
                popularity_ndcg_at_10 = version?.BaselineMetric("ndcg@10"),
                updated_at = c.UpdatedAt,
            });
        }
        await stdout.WriteLineAsync(JsonSerializer.Serialize(list));
        return 0;
    }

    /// <summary><c>models</c>: the registry as one JSON array, newest first, with the campaigns each version serves.</summary>
    public static async Task<int> ModelsAsync(IServiceProvider services, TextWriter stdout)
    {
        var registry = services.GetRequiredService<ModelRegistry>();
        var campaigns = await registry.CampaignsAsync();
        var versions = await registry.ListAsync();
        await stdout.WriteLineAsync(JsonSerializer.Serialize(versions.Select(v => new
        {
            version = v.Version,
            recipe = v.Recipe,
            status = v.Status,
            campaign = campaigns.Where(c => c.Version == v.Version).Select(c => c.Name).ToArray(),
            hyperparameters = JsonDocument.Parse(v.Hyperparameters).RootElement,
            metrics = JsonDocument.Parse(v.Metrics ?? "{}").RootElement,
            baseline = JsonDocument.Parse(v.BaselineMetrics ?? "{}").RootElement,
            trained_at = v.TrainedAt,
            chosen_by_auto = v.Search is not null,
        })));
        return 0;
    }

    private static DateTime? Date(Verb verb, string key) => verb.Get(key) is { } raw
        ? DateTime.TryParse(raw, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var d)
            ? d
            : throw new CommandLineException($"--{key} must be a date like 2026-01-31, not '{raw}'.")
        : null;
}
