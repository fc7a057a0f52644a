using System.Globalization;
using System.Text.Json;
using Recs.Services.Engine;
using Recs.Services.Jobs;
using Recs.Services.Models;
using Recs.Services.Training;

namespace Recs.Dashboard.Cli;

/// <summary><c>train</c> and <c>batch</c>: the training job and the cache refresh, headless.</summary>
public static class TrainCommands
{
    private static readonly HashSet<string> OwnOptions = ["recipe", "split", "test-ratio", "seed", "from", "to", "no-promote", "allow-repeats"];

    public static async Task<int> TrainAsync(Verb verb, IServiceProvider services, TextWriter stdout)
    {
        var recipe = verb.Get("recipe") ?? RecipeCatalog.Auto;
        var request = new TrainingRequest
        {
            Recipe = recipe,
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
            var (promoted, batch) = await services.GetRequiredService<TrainingService>().PromoteAsync(version, "cli");
            await stdout.WriteLineAsync(JsonSerializer.Serialize(new
            {
                version = promoted.Version,
                status = promoted.Status,
                cache = batch is null ? "a batch job was already running; it will not include this champion" : $"refreshed: {batch.Users} users, {batch.Products} products",
            }));
            return 0;
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException)
        {
            throw new CommandLineException(e.Message, e);
        }
    }

    public static async Task<int> BatchAsync(IServiceProvider services, TextWriter stdout)
    {
        BatchResult? result;
        try
        {
            result = await services.GetRequiredService<BatchInference>().RunForChampionAsync("cli");
        }
        catch (InvalidOperationException e)
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

    private static DateTime? Date(Verb verb, string key) => verb.Get(key) is { } raw
        ? DateTime.TryParse(raw, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var d)
            ? d
            : throw new CommandLineException($"--{key} must be a date like 2026-01-31, not '{raw}'.")
        : null;
}
