using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Recs.Services.Engine;
using Recs.Services.Jobs;
using Recs.Services.Models;

namespace Recs.Services.Training;

/// <summary>What to train: recipe (or auto), hyperparameters, evaluation split, data window, and whether to promote a winner.</summary>
public sealed record TrainingRequest
{
    public string Recipe { get; init; } = RecipeCatalog.Auto;
    public IReadOnlyDictionary<string, string> Hyperparameters { get; init; } = new Dictionary<string, string>();
    public string Split { get; init; } = Splits.Temporal;
    public double TestRatio { get; init; } = 0.2;
    public ulong Seed { get; init; } = 42;
    public DateTime? From { get; init; }
    public DateTime? To { get; init; }
    public bool AutoPromote { get; init; } = true;

    /// <summary>The campaign the version is trained for: auto considers only recipes that can serve it, and promotion moves it.</summary>
    public string Campaign { get; init; } = Campaigns.UserRecommendations;
    public bool ExcludeSeen { get; init; } = true;
    public string RequestedBy { get; init; } = "system";

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad field.</summary>
    public void Validate()
    {
        _ = RecipeCatalog.Get(Recipe).Resolve(Hyperparameters);
        Campaigns.Check(Campaign);
        if (Recipe != RecipeCatalog.Auto && !RecipeCatalog.Get(Recipe).Serves.Contains(Campaign))
            throw new ArgumentException($"A {Recipe} model cannot serve the {Campaign} campaign.");
        if (!Splits.All.Contains(Split))
            throw new ArgumentException($"Split must be one of {string.Join(", ", Splits.All)}, not '{Split}'.");
        if (TestRatio is <= 0 or >= 1)
            throw new ArgumentException("The test ratio must be between 0 and 1 (exclusive).");
        if (From is { } f && To is { } t && f >= t)
            throw new ArgumentException("The data window's start must be before its end.");
    }
}

/// <summary>The result of a training run.</summary>
public sealed record TrainingOutcome(ModelVersion Version, bool Promoted, string PromotionReason, BatchResult? Batch);

/// <summary>
/// The training job: load → split → (auto: search recipes and hyperparameters on validation data) → fit and evaluate,
/// with the popularity baseline on the same split → refit on all the data for serving → register the version →
/// promote it if it beats the champion's NDCG@10 on the same split → batch-infer. One at a time across every instance.
/// </summary>
public sealed class TrainingService(
    NpgsqlDataSource dataSource, JobRunner runner, ModelRegistry registry, BatchInference batch,
    IOptions<TrainingOptions> options, Audit.AuditLog audit, ILogger<TrainingService> logger,
    Verdicts.VerdictReplay verdicts, IOptions<Verdicts.VerdictOptions> verdictOptions)
{
    /// <summary>Starts a training job in the background and returns it; throws <see cref="JobAlreadyRunningException"/> if one runs.</summary>
    public Task<JobRecord> StartAsync(TrainingRequest request, CancellationToken cancellationToken = default)
    {
        request.Validate();
        return runner.StartAsync(Definition(request), job => RunAsync(request, job), Outcome, cancellationToken);
    }

    /// <summary>Runs a whole training job in the caller (the CLI).</summary>
    public Task<TrainingOutcome> RunNowAsync(TrainingRequest request, CancellationToken cancellationToken = default)
    {
        request.Validate();
        return runner.RunAsync(Definition(request), job => RunAsync(request, job), Outcome, cancellationToken);
    }

    /// <summary>Cancels a job running in this process, recording who asked; false when it is not running here.</summary>
    public async Task<bool> CancelAsync(long jobId, string requestedBy)
    {
        var cancelled = runner.Cancel(jobId);
        await audit.RecordAsync(requestedBy, Audit.AuditActions.Cancel, $"training job {jobId}", new { job = jobId },
            cancelled ? "succeeded: cancellation requested" : "failed: the job is not running in this process");
        return cancelled;
    }

    private static JobDefinition Definition(TrainingRequest request) => new(JobKinds.Training, request, request.RequestedBy)
    {
        Audit = (Audit.AuditActions.Train, request.Recipe),
        Cancelled = "Cancelled; the serving cache is untouched",
        Failed = "Training failed; the serving cache is untouched",
    };

    private static JobOutcome Outcome(TrainingOutcome o) => new(
        $"{o.Version.Version} ({o.Version.Recipe}) trained in {(o.Version.DurationMs ?? 0) / 1000.0:F1} s; NDCG@10 {o.Version.Metric("ndcg@10"):F4} vs popularity {o.Version.BaselineMetric("ndcg@10"):F4}" +
        (o.Promoted ? "; promoted to champion" : ""),
        new { version = o.Version.Version, promoted = o.Promoted, reason = o.PromotionReason },
        $"version {o.Version.Version}{(o.Promoted ? ", promoted" : "")} ({o.PromotionReason})");

    /// <summary>Where each phase of a run sits on the job's progress bar.</summary>
    private static (double From, double To) Span(ExperimentPhase phase) => phase switch
    {
        ExperimentPhase.Searching or ExperimentPhase.ChoosingEpochs => (0.05, 0.55),
        ExperimentPhase.Training => (0.55, 0.7),
        _ => (0.7, 0.75),
    };

    private static string Describe(ExperimentPhase phase) => phase switch
    {
        ExperimentPhase.Searching => "auto: trying recipes on validation data",
        ExperimentPhase.ChoosingEpochs => "choosing the epoch on validation data",
        ExperimentPhase.Training => "training",
        _ => "evaluating on the test period",
    };

    private async Task<TrainingOutcome> RunAsync(TrainingRequest request, JobContext job)
    {
        var cancellationToken = job.Cancellation;
        var clock = Stopwatch.StartNew();
        ModelVersion? version = null;
        try
        {
            await job.ReportAsync(0.01, "reading interactions");
            var data = await TrainingDataLoader.LoadAsync(dataSource, options.Value.EventWeights, request.From, request.To, cancellationToken);
            if (data.Interactions.Count == 0)
                throw new InvalidOperationException("There are no interactions to train on in that window.");
            await job.LogAsync($"{data.Interactions.Count:N0} interactions, {data.Interactions.Users:N0} users, {data.Interactions.Items:N0} items");

            var requested = RecipeCatalog.Get(request.Recipe);
            var spec = new ExperimentSpec
            {
                Recipe = requested, Hyperparameters = request.Hyperparameters, Split = request.Split, TestRatio = request.TestRatio,
                Seed = request.Seed, ExcludeSeen = request.ExcludeSeen,
            };
            int? epochs = null, trials = null;
            if (request.Recipe == RecipeCatalog.Auto)
            {
                var settings = requested.Resolve(request.Hyperparameters);
                var shape = new DataShape(data.Interactions.Users, data.Interactions.Items, data.Interactions.Count, data.Interactions.Value is not null, data.Features is not null);
                var (candidates, leftOut) = RecipeCatalog.AutoCandidates(shape, request.Campaign, settings["budget-seconds"]);
                trials = (int)settings["trials"];
                spec = spec with
                {
                    Recipe = candidates.Count > 0 ? candidates[0] : RecipeCatalog.All[0],
                    Hyperparameters = new Dictionary<string, string>(),
                    Search = new AutoSearchSpec
                    {
                        Candidates = candidates, Trials = trials.Value, BudgetSeconds = settings["budget-seconds"], Parallel = (int)settings["parallel"], LeftOut = leftOut,
                    },
                };
                await job.LogAsync($"auto: {trials} trials over {string.Join(", ", candidates.Select(c => c.Name))}" +
                    (leftOut.Count > 0 ? $"; left out {string.Join("; ", leftOut.Select(l => $"{l.Key} ({l.Value})"))}" : ""));
            }
            else if (requested.EpochParameter is { } epochParameter)
            {
                epochs = (int)requested.Resolve(request.Hyperparameters)[epochParameter];
            }

            version = await registry.BeginAsync(request.Recipe, requested.Complete(request.Hyperparameters), request.Seed, data.Fingerprint(null), cancellationToken);
            await job.LogAsync($"registered version {version.Version} ({request.Recipe})");

            var progress = new InlineProgress<ExperimentProgress>(p =>
            {
                var (from, to) = Span(p.Phase);
                var fraction = p switch
                {
                    { Trial: { } t } when trials is { } n => from + (to - from) * Math.Min(1, t.Number / (double)n),
                    { Epoch: { } e } when epochs is { } n => from + (to - from) * Math.Min(1, e.Epoch / (double)n),
                    _ => from,
                };
                var message = p switch
                {
                    { Trial: { } t } => $"{Describe(p.Phase)}: trial {t.Number} of {trials}, {t.Recipe} " +
                        (t.Error is null ? $"validation NDCG@10 {t.ValidationNdcg:F4}" : $"refused: {t.Error}"),
                    { Epoch: { } e } => $"{Describe(p.Phase)}: iteration {e.Epoch}{(epochs is { } n ? $" of {n}" : "")}, loss {e.TrainLoss:G4}" +
                        (e.ValidationNdcg is { } v ? $", validation NDCG@10 {v:F4}" : ""),
                    _ => Describe(p.Phase),
                };
                job.Report(fraction, message);
                if (p.Trial is { } trial)
                    _ = job.LogAsync($"trial {trial.Number}: {trial.Recipe} {string.Join(" ", trial.Hyperparameters.Select(h => $"{h.Key}={h.Value}"))} → " +
                        (trial.Error is null ? $"{trial.ValidationNdcg:F4} in {trial.Seconds:F1} s" : trial.Error));
            });
            var result = await Task.Run(() => Experiment.Run(data.Interactions, spec, data.ItemCategory, data.Groups, progress, cancellationToken, data.Features), cancellationToken);
            await job.LogAsync($"{result.Recipe.Name}: NDCG@10 {result.Metrics.Metrics["ndcg@10"]:F4} vs popularity {result.Baseline.Metrics["ndcg@10"]:F4} on {result.Metrics.TestUsers:N0} test users");

            // The evaluated model saw only the training part; the served one sees everything, with the same hyperparameters
            // (for iterative recipes the epoch count chosen on validation).
            await job.ReportAsync(0.75, $"training the serving model ({result.Recipe.Name}) on all the data");
            var serving = result.Recipe.Create(result.Hyperparameters, request.ExcludeSeen);
            await Task.Run(() => serving.Fit(serving.Prepare(data.Interactions).ToMatrix(), new FitOptions { Seed = request.Seed, Cancellation = cancellationToken, Features = data.Features }), cancellationToken);
            var artifact = new ModelArtifact(serving, data.UserIds, data.ItemIds).ToBytes(result.Hyperparameters);

            await job.ReportAsync(0.9, "registering the version");
            var history = result.History.Select(h => new
            {
                epoch = h.Epoch, train_loss = h.TrainLoss, validation_loss = h.ValidationLoss, validation_ndcg_at_10 = h.ValidationNdcg, seconds = h.Seconds,
                best = h.Epoch == result.BestEpoch,
            });
            version = await registry.CompleteAsync(version.Id, result.Recipe.Name, result.Hyperparameters,
                new Dictionary<string, object>(result.Metrics.Metrics.ToDictionary(m => m.Key, m => (object)m.Value)) { ["test_users"] = result.Metrics.TestUsers, ["groups"] = result.Metrics.GroupNdcg },
                result.Baseline.Metrics, history, data.Fingerprint(result.Split), result.Search is { } s ? SearchRecord(s) : null, clock.Elapsed, artifact);

            var (promote, reason) = request.AutoPromote ? await ShouldPromoteAsync(version, request.Campaign, cancellationToken) : (false, "auto-promote is off");
            if (promote)
                (promote, reason) = await CheckVerdictsAsync(version, request, reason, job, cancellationToken);
            await job.LogAsync(promote ? $"promoting {version.Version} to {request.Campaign}: {reason}" : $"{version.Version} stays a challenger: {reason}");
            BatchResult? batchResult = null;
            if (promote)
            {
                version = await registry.PromoteAsync(version.Version, request.Campaign, cancellationToken);
                if (request.Campaign != Campaigns.PersonalizedRanking)
                {
                    await job.ReportAsync(0.92, $"refreshing the {request.Campaign} cache");
                    var similarOwn = (await registry.CampaignsAsync(cancellationToken)).First(c => c.Name == Campaigns.SimilarItems).OwnVersion;
                    batchResult = await batch.WriteAsync(ModelArtifact.FromBytes(artifact), version.Version,
                        new InlineProgress<(double, string)>(p => job.Report(0.92 + 0.08 * p.Item1, p.Item2)), cancellationToken,
                        users: request.Campaign == Campaigns.UserRecommendations, similar: request.Campaign == Campaigns.SimilarItems || similarOwn is null);
                }
            }
            return new TrainingOutcome(version, promote, reason, batchResult);
        }
        catch (Exception e) when (version is not null)
        {
            await registry.FailAsync(version.Id, e is OperationCanceledException ? "cancelled" : e.Message);
            throw;
        }
    }

    /// <summary>auto's search as the registry keeps it: the trials in order, what was left out, whether the budget ended it.</summary>
    public static object SearchRecord(AutoSearchResult search) => new
    {
        chosen = search.Winner.Name,
        hyperparameters = search.Hyperparameters,
        budget_reached = search.BudgetReached,
        left_out = search.LeftOut,
        trials = search.Trials.Select(t => new
        {
            trial = t.Number, recipe = t.Recipe, hyperparameters = t.Hyperparameters,
            validation_ndcg_at_10 = double.IsNaN(t.ValidationNdcg) ? (double?)null : Math.Round(t.ValidationNdcg, 6),
            best_epoch = t.BestEpoch, seconds = Math.Round(t.Seconds, 2), error = t.Error,
        }),
    };

    /// <summary>Makes a version serve a campaign by hand (page or CLI) and refreshes that campaign's cache from it.</summary>
    public Task<(ModelVersion Version, BatchResult? Batch)> PromoteAsync(string version, string requestedBy, CancellationToken cancellationToken = default,
        string campaign = Campaigns.UserRecommendations) =>
        audit.AuditAsync(requestedBy, Audit.AuditActions.Promote, version, new { version, campaign }, () => PromoteAuditedAsync(version, campaign, requestedBy, cancellationToken),
            r => r.Batch is { } b ? $"serves {campaign}; cache refreshed ({b.Users:N0} users, {b.Products:N0} products)" : $"serves {campaign}; no cache refreshed");

    private async Task<(ModelVersion Version, BatchResult? Batch)> PromoteAuditedAsync(string version, string campaign, string requestedBy, CancellationToken cancellationToken)
    {
        var promoted = await registry.PromoteAsync(version, campaign, cancellationToken);
        logger.LogInformation("{User} promoted {Version} to {Campaign}", requestedBy, version, campaign);
        var refreshed = campaign == Campaigns.PersonalizedRanking ? null : await batch.RunAsync(campaign, requestedBy, cancellationToken);
        return (promoted, refreshed);
    }

    /// <summary>
    /// The analysts' verdicts replayed against a candidate the figures would promote: refused when it still recommends
    /// more than Verdicts:MaxRejectedShare of the pairs they said do not make sense (said in the job log and the audit log).
    /// </summary>
    private async Task<(bool, string)> CheckVerdictsAsync(ModelVersion candidate, TrainingRequest request, string reason, JobContext job, CancellationToken cancellationToken)
    {
        Verdicts.ReplayResult replay;
        try
        {
            replay = await verdicts.ReplayAsync(candidate.Version, request.Campaign, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Unchecked is not promoted; the version stays a challenger that a person can promote after looking.
            logger.LogError(e, "Replaying the verdicts against {Version} failed", candidate.Version);
            return (false, $"{reason}, but the analysts' verdicts could not be replayed against it ({e.Message})");
        }
        if (replay.Pairs.Count == 0)
            return (true, reason);
        await job.LogAsync($"verdicts replayed against {candidate.Version}: {replay.Describe()}");
        var max = verdictOptions.Value.MaxRejectedShare;
        if (replay.Rejected == 0 || replay.RejectedShare <= max)
            return (true, $"{reason}; it brings back {replay.RejectedKept} of {replay.Rejected} rejected pairs");
        var refusal = string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"it still recommends {replay.RejectedKept} of {replay.Rejected} pairs analysts said don't make sense ({replay.RejectedShare:P0}, more than the {max:P0} Verdicts:MaxRejectedShare allows)");
        await audit.RecordAsync(request.RequestedBy, Audit.AuditActions.AutoPromoteRefused, candidate.Version,
            new { version = candidate.Version, campaign = request.Campaign, rejected = replay.Rejected, rejected_kept = replay.RejectedKept, approved = replay.Approved,
                approved_dropped = replay.ApprovedDropped, max_rejected_share = max },
            $"refused: {refusal}", cancellationToken);
        logger.LogWarning("Auto-promotion of {Version} refused: {Reason}", candidate.Version, refusal);
        return (false, $"{reason}, but {refusal}");
    }

    /// <summary>Promote when the campaign has no version of its own, or when this version's NDCG@10 beats that one's on the same split.</summary>
    private async Task<(bool, string)> ShouldPromoteAsync(ModelVersion candidate, string campaign, CancellationToken cancellationToken)
    {
        var own = (await registry.CampaignsAsync(cancellationToken)).First(c => c.Name == campaign).OwnVersion;
        var champion = own is null ? null : await registry.GetAsync(own, cancellationToken);
        if (champion is null)
            return (true, campaign == Campaigns.UserRecommendations ? "there is no champion yet" : $"the {campaign} campaign has no version of its own yet");
        if (!champion.ComparableWith(candidate))
            return (false, $"champion {champion.Version} was evaluated on another split or data window, so the figures are not comparable");
        var mine = candidate.Metric("ndcg@10") ?? 0;
        var theirs = champion.Metric("ndcg@10") ?? 0;
        return mine > theirs
            ? (true, $"NDCG@10 {mine:F4} beats champion {champion.Version}'s {theirs:F4}")
            : (false, $"NDCG@10 {mine:F4} does not beat champion {champion.Version}'s {theirs:F4}");
    }
}
