using System.Text.Json;
using Recs.Services.Monitoring;

namespace Recs.Dashboard.Cli;

/// <summary><c>health</c>: the champion's drift check, headless (what the Overview and Models pages show).</summary>
public static class HealthCommand
{
    public static async Task<int> RunAsync(Verb verb, IServiceProvider services, TextWriter stdout)
    {
        var drift = services.GetRequiredService<DriftService>();
        var report = verb.Get("latest") is null ? await drift.CheckAsync() : await drift.LatestAsync();
        if (report is null)
            throw new CommandLineException(verb.Get("latest") is null ? "There is no champion to check." : "No health check is stored yet.");
        await stdout.WriteLineAsync(JsonSerializer.Serialize(new
        {
            version = report.Version,
            recipe = report.Recipe,
            status = report.Status,
            checked_at = report.CheckedAt,
            seconds = Math.Round(report.Seconds, 3),
            trained_through = report.Figures.TrainedThrough,
            events = report.Figures.Events,
            replay_from = report.Figures.ReplayFrom,
            replay_users = report.Figures.ReplayUsers,
            signals = report.Signals.Select(s => new { signal = s.Key, state = s.State, value = s.Value, threshold = s.Threshold, message = s.Message }),
        }));
        return 0;
    }
}
