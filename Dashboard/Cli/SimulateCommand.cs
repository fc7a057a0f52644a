using System.Globalization;
using System.Text.Json;
using Recs.Services.Simulation;

namespace Recs.Dashboard.Cli;

/// <summary>
/// <c>simulate --minutes N [--rate R] [--shoppers N] [--url URL] [--key KEY]</c>: shoppers of the demo business against a
/// running Recs through its API; progress on stderr, one JSON summary on stdout.
/// </summary>
public static class SimulateCommand
{
    /// <summary>Where the dashboard listens when started with no --urls (launchSettings and the help say so).</summary>
    public const string DefaultUrl = "http://localhost:5000";

    public const string Usage = "simulate --minutes N [--rate SHOPPERS_PER_SECOND] [--shoppers N] [--url URL] [--key API_KEY] [--concurrency 8] [--seed N]";

    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public static async Task<int> RunAsync(Verb verb, IServiceProvider services, TextWriter stdout, TextWriter stderr)
    {
        var minutes = Positive(verb, "minutes");
        var shoppers = verb.Get("shoppers") is null ? (int?)null : verb.GetInt("shoppers", 0);
        if (minutes is null && shoppers is null)
            throw new CommandLineException($"simulate needs --minutes N (wall-clock minutes, e.g. 0.5) or --shoppers N. Usage: {Usage}");
        var settings = new SimulationSettings
        {
            Duration = minutes is { } m ? TimeSpan.FromMinutes(m) : null,
            Shoppers = shoppers,
            ShoppersPerSecond = Positive(verb, "rate") ?? 5,
            Concurrency = verb.GetInt("concurrency", 8),
            // A new run meets other shoppers unless --seed repeats one (the summary prints the seed it used).
            Seed = verb.Get("seed") is null ? (ulong)services.GetRequiredService<TimeProvider>().GetUtcNow().ToUnixTimeSeconds() : (ulong)verb.GetInt("seed", 0),
        };
        var url = verb.Get("url") ?? DefaultUrl;
        var request = new SimulationRequest(url, settings, "cli", verb.Get("key"));

        using var cancel = new CancellationTokenSource();
        // Ctrl+C stops the shoppers but lets the temporary key be revoked before the process ends.
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            cancel.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            var progress = new Recs.Services.Engine.InlineProgress<SimulationProgress>(p => stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{p.Elapsed.TotalSeconds,7:F1} s {p.Fraction,4:P0} {p.Shoppers:N0} shoppers, {p.Clicks:N0} clicks, {p.Purchases:N0} purchases, {p.Errors:N0} errors")));
            await stderr.WriteLineAsync($"Simulating shoppers against {url} at {settings.ShoppersPerSecond.ToString(CultureInfo.InvariantCulture)} per second"
                + (minutes is { } mm ? $" for {mm.ToString(CultureInfo.InvariantCulture)} min" : "") + (shoppers is { } n ? $" (at most {n:N0} shoppers)" : "") + "...");
            var summary = await services.GetRequiredService<SimulationService>().RunAsync(request, progress, cancel.Token);
            await stdout.WriteLineAsync(JsonSerializer.Serialize(summary, Json));
            return summary.Errors > 0 && summary.Shoppers == 0 ? 1 : 0;
        }
        catch (Exception e) when (e is SimulationException or ArgumentException)
        {
            throw new CommandLineException(e.Message, e);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            await stderr.WriteLineAsync(request.ApiKey is null ? "Stopped (Ctrl+C); the temporary key was revoked." : "Stopped (Ctrl+C).");
            return 130;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    private static double? Positive(Verb verb, string key)
    {
        if (verb.Get(key) is not { } raw)
            return null;
        return double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v > 0 && double.IsFinite(v)
            ? v
            : throw new CommandLineException($"--{key} must be a positive number (like 0.5), not '{raw}'.");
    }
}
