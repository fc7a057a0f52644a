using Microsoft.Extensions.Logging;
using Recs.Services.Audit;
using Recs.Services.Models;

namespace Recs.Services.Training;

/// <summary>
/// Starts and stops experiments and ends one by promoting a version, each audited with who asked (the page and the
/// command line both come here). Which version won is the report's to say (Analytics); this only acts on it.
/// </summary>
public sealed class ExperimentService(ExperimentRegistry experiments, TrainingService training, RemoteBatch remote, AuditLog audit, ILogger<ExperimentService> logger)
{
    public Task<OnlineExperiment> StartAsync(string campaign, string challenger, int sharePercent, string requestedBy, CancellationToken cancellationToken = default) =>
        audit.AuditAsync(requestedBy, AuditActions.ExperimentStart, campaign, new { campaign, challenger, share = sharePercent }, async () =>
        {
            var started = await experiments.StartAsync(campaign, challenger, sharePercent, requestedBy, cancellationToken);
            logger.LogInformation("{User} started experiment {Id} on {Campaign}: {Control} against {Challenger} at {Share} %",
                requestedBy, started.Id, campaign, started.ControlVersion, challenger, sharePercent);
            return started;
        }, e => $"experiment {e.Id}: {e.ControlVersion} (control) against {e.ChallengerVersion} ({e.ChallengerShare} %)");

    public Task<OnlineExperiment> StopAsync(string campaign, string requestedBy, CancellationToken cancellationToken = default) =>
        audit.AuditAsync(requestedBy, AuditActions.ExperimentStop, campaign, new { campaign },
            () => experiments.StopAsync(campaign, $"stopped by {requestedBy}; {campaign} keeps its version", cancellationToken),
            e => $"experiment {e.Id} stopped; {e.ControlVersion} keeps serving");

    /// <summary>
    /// Ends the campaign's running experiment with <paramref name="version"/> (one of its two arms, or
    /// <see cref="ExperimentArms.Remote"/> for its remote arm) serving everyone: the challenger is promoted (and the cache
    /// rebuilt from it; a remote challenger's lists fetched again into the cache) before the experiment stops, so a
    /// failed promotion leaves the experiment running; the control simply keeps serving.
    /// </summary>
    public async Task<OnlineExperiment> PromoteAsync(string campaign, string version, string requestedBy, CancellationToken cancellationToken = default)
    {
        var running = await experiments.RunningAsync(campaign, cancellationToken) ?? throw new InvalidOperationException($"No experiment is running on {campaign}.");
        if (version == ExperimentArms.Remote)
            version = new[] { running.ControlVersion, running.ChallengerVersion }.FirstOrDefault(CampaignEngines.IsRemote)
                ?? throw new ArgumentException($"Neither arm of the experiment on {campaign} is its remote campaign ({running.ControlVersion} against {running.ChallengerVersion}).");
        if (version != running.ControlVersion && version != running.ChallengerVersion)
            throw new ArgumentException($"Version {version} is in neither arm of the experiment on {campaign} ({running.ControlVersion} against {running.ChallengerVersion}).");
        // The campaign's cache is fetched from its remote campaign while Engine:Remote names one: a local version cannot take it over from here.
        if (version == running.ChallengerVersion && CampaignEngines.IsRemote(running.ControlVersion))
            throw new InvalidOperationException($"The {campaign} campaign is served by AWS Personalize {running.ControlVersion} (Engine:Remote:{campaign}): " +
                $"remove that setting to let {version} serve it, then promote {version}; or stop the experiment.");
        return await audit.AuditAsync(requestedBy, AuditActions.ExperimentStop, campaign, new { campaign, promote = version }, async () =>
        {
            if (version == running.ChallengerVersion && CampaignEngines.IsRemote(version))
            {
                if (campaign != Campaigns.PersonalizedRanking && await remote.RunAsync(campaign, requestedBy, cancellationToken, promoting: true) is null)
                    throw new InvalidOperationException("A batch job is running: promote the remote arm when it has finished.");
            }
            else if (version == running.ChallengerVersion)
                await training.PromoteAsync(version, requestedBy, cancellationToken, campaign);
            return await experiments.StopAsync(campaign, version == running.ChallengerVersion
                ? $"challenger {version} promoted by {requestedBy}"
                : $"control {version} kept by {requestedBy}", cancellationToken);
        }, e => $"experiment {e.Id} ended: {version} serves {campaign}");
    }
}
