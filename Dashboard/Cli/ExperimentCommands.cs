using System.Globalization;
using System.Text.Json;
using Recs.Dashboard.Api;
using Recs.Services.Analytics;
using Recs.Services.Models;
using Recs.Services.Training;

namespace Recs.Dashboard.Cli;

/// <summary>
/// <c>experiments start --campaign C --challenger VERSION|remote --share PERCENT</c> (remote: the campaign's AWS Personalize campaign), <c>experiments stop|show --campaign C</c>,
/// <c>experiments promote --campaign C [--version V]</c> and <c>experiments list</c>; each prints one JSON value.
/// </summary>
public static class ExperimentCommands
{
    public const string Usage = "experiments start --campaign C --challenger VERSION|remote --share PERCENT | stop --campaign C | show --campaign C | promote --campaign C [--version V|remote] | list";

    public static async Task<int> RunAsync(Verb verb, IServiceProvider services, TextWriter stdout)
    {
        try
        {
            switch (verb.Get("action"))
            {
                case "start":
                {
                    var campaign = Campaign(verb);
                    var challenger = verb.Get("challenger") ?? throw new CommandLineException("experiments start needs --challenger VERSION (see the models verb), or remote for the campaign's AWS Personalize campaign.");
                    var raw = verb.Get("share") ?? throw new CommandLineException("experiments start needs --share PERCENT (1 to 99: the challenger's share of users).");
                    if (!int.TryParse(raw.TrimEnd('%'), NumberStyles.Integer, CultureInfo.InvariantCulture, out var share))
                        throw new CommandLineException($"--share must be a whole percentage between 1 and 99, not '{raw}'.");
                    var started = await services.GetRequiredService<ExperimentService>().StartAsync(campaign, challenger, share, "cli");
                    await stdout.WriteLineAsync(JsonSerializer.Serialize(ExperimentJson.Summary(started)));
                    return 0;
                }
                case "stop":
                {
                    var stopped = await services.GetRequiredService<ExperimentService>().StopAsync(Campaign(verb), "cli");
                    await stdout.WriteLineAsync(JsonSerializer.Serialize(ExperimentJson.Summary(stopped)));
                    return 0;
                }
                case "promote":
                {
                    var campaign = Campaign(verb);
                    var version = verb.Get("version");
                    if (version is null)
                    {
                        var report = await services.GetRequiredService<ExperimentReportService>().ForCampaignAsync(campaign);
                        if (report is null || !report.Experiment.IsRunning)
                            throw new CommandLineException($"No experiment is running on {campaign}.");
                        version = report.Winner ?? throw new CommandLineException($"No winner yet: {report.Summary} Pass --version to end it with a version of your choice.");
                    }
                    var ended = await services.GetRequiredService<ExperimentService>().PromoteAsync(campaign, version, "cli");
                    await stdout.WriteLineAsync(JsonSerializer.Serialize(ExperimentJson.Summary(ended)));
                    return 0;
                }
                case "show":
                {
                    var campaign = Campaign(verb);
                    var report = await services.GetRequiredService<ExperimentReportService>().ForCampaignAsync(campaign);
                    await stdout.WriteLineAsync(JsonSerializer.Serialize(ExperimentJson.Show(campaign, report)));
                    return 0;
                }
                case "list":
                {
                    var all = await services.GetRequiredService<ExperimentRegistry>().ListAsync();
                    await stdout.WriteLineAsync(JsonSerializer.Serialize(all.Select(ExperimentJson.Summary)));
                    return 0;
                }
                default:
                    throw new CommandLineException($"Usage: {Usage}");
            }
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or ArgumentException)
        {
            throw new CommandLineException(e.Message, e);
        }
    }

    private static string Campaign(Verb verb)
    {
        var campaign = verb.Get("campaign") ?? throw new CommandLineException($"experiments {verb.Get("action")} needs --campaign ({string.Join(", ", Campaigns.All)}).");
        Campaigns.Check(campaign);
        return campaign;
    }
}
