using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Recs.Services.Engine;
using Recs.Services.Jobs;

namespace Recs.Services.Training;

/// <summary>What to train: recipe, hyperparameters, evaluation split, data window, and whether to promote a winner.</summary>
public sealed record TrainingRequest
{
    public string Recipe { get; init; } = AlsRecommender.Name;
    public IReadOnlyDictionary<string, string> Hyperparameters { get; init; } = new Dictionary<string, string>();
    public string Split { get; init; } = Splits.Temporal;
    public double TestRatio { get; init; } = 0.2;
    public ulong Seed { get; init; } = 42;
    public DateTime? From { get; init; }
    public DateTime? To { get; init; }
    public bool AutoPromote { get; init; } = true;
    public bool ExcludeSeen { get; init; } = true;
    public string RequestedBy { get; init; } = "system";

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad field.</summary>
    public void Validate()
    {
        _ = Recipes.Create(Recipe, Hyperparameters, ExcludeSeen);
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

/// <summary>Thrown when a training job is already running somewhere (this or another instance).</summary>
public sealed class JobAlreadyRunningException(string kind) : Exception($"A {kind} job is already running; wait for it to finish or cancel it.");

/// <summary>
/// The training job: load → split → fit and evaluate (with the popularity baseline on the same split) →
/// refit on all the data for serving → register the version → promote it if it beats the champion's NDCG@10
/// on the same split → batch-infer. One at a time across every instance (the jobs table's unique index).
/// </summary>
public sealed class TrainingService(
    NpgsqlDataSource dataSource, JobService jobs, ModelRegistry registry, BatchInference batch,
    IOptions<TrainingOptions> options, Audit.AuditLog audit, ILogger<TrainingService> logger)
{
    public const string JobKind = "training";
    private readonly ConcurrentDictionary<long, CancellationTokenSource> _running = new();

    /// <summary>Starts a training job in the background and returns it; throws <see cref="JobAlreadyRunningException"/> if one runs.</summary>
    public async Task<JobRecord> StartAsync(TrainingRequest request, CancellationToken cancellationToken = default)
    {
        request.Validate();
        var job = await jobs.TryStartAsync(JobKind, request, request.RequestedBy, cancellationToken) ?? throw new JobAlreadyRunningException(JobKind);
        var cts = new CancellationTokenSource();
        _running[job.Id] = cts;
        _ = Task.Run(async () =>
        {
            try
            {
                await AuditedRunAsync(request, job, cts.Token);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                logger.LogWarning("Training job {Id} ended: {Message}", job.Id, e.Message);
            }
            finally
            {
                _running.TryRemove(job.Id, out _);
                cts.Dispose();
            }
        }, CancellationToken.None);
        return job;
    }

    /// <summary>Cancels a job running in this process, recording who asked; false when it is not running here.</summary>
    public async Task<bool> CancelAsync(long jobId, string requestedBy)
    {
        var cancelled = Cancel(jobId);
        await audit.RecordAsync(requestedBy, Audit.AuditActions.Cancel, $"training job {jobId}", new { job = jobId },
            cancelled ? "succeeded: cancellation requested" : "failed: the job is not running in this process");
        return cancelled;
    }

    /// <summary>Requests cancellation of a job running in this process; false when it is not running here.</summary>
    public bool Cancel(long jobId)
    {
        if (!_running.TryGetValue(jobId, out var cts))
            return false;
        cts.Cancel();
        return true;
    }

    /// <summary>Runs a whole training job in the caller (the CLI), starting the job record itself.</summary>
    public async Task<TrainingOutcome> RunNowAsync(TrainingRequest request, CancellationToken cancellationToken = default)
    {
        request.Validate();
        var job = await jobs.TryStartAsync(JobKind, request, request.RequestedBy, cancellationToken) ?? throw new JobAlreadyRunningException(JobKind);
        return await AuditedRunAsync(request, job, cancellationToken);
    }

    private Task<TrainingOutcome> AuditedRunAsync(TrainingRequest request, JobRecord job, CancellationToken cancellationToken) =>
        audit.AuditAsync(request.RequestedBy, Audit.AuditActions.Train, request.Recipe, request, () => RunAsync(request, job, cancellationToken),
            o => $"version {o.Version.Version}{(o.Promoted ? ", promoted" : "")} ({o.PromotionReason})");

    private async Task<TrainingOutcome> RunAsync(TrainingRequest request, JobRecord job, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        ModelVersion? version = null;
        try
        {
            await Report(0.01, "reading interactions");
            var data = await TrainingDataLoader.LoadAsync(dataSource, options.Value.EventWeights, request.From, request.To, cancellationToken);
            if (data.Interactions.Count == 0)
                throw new InvalidOperationException("There are no interactions to train on in that window.");
            await jobs.LogAsync(job, $"{data.Interactions.Count:N0} interactions, {data.Interactions.Users:N0} users, {data.Interactions.Items:N0} items", cancellationToken);

            var model = Recipes.Create(request.Recipe, request.Hyperparameters, request.ExcludeSeen);
            var hyperparameters = Recipes.Defaults(request.Recipe).ToDictionary(d => d.Key, d => request.Hyperparameters.GetValueOrDefault(d.Key, d.Value));
            version = await registry.BeginAsync(request.Recipe, hyperparameters, request.Seed, data.Fingerprint(null), cancellationToken);
            await jobs.LogAsync(job, $"registered version {version.Version} ({request.Recipe})", cancellationToken);

            var epochs = hyperparameters.GetValueOrDefault("iterations") ?? hyperparameters.GetValueOrDefault("epochs");
            var spec = new ExperimentSpec
            {
                Recipe = request.Recipe, Hyperparameters = request.Hyperparameters, Split = request.Split, TestRatio = request.TestRatio,
                Seed = request.Seed, ExcludeSeen = request.ExcludeSeen,
            };
            var progress = new InlineProgress<(string Phase, EpochRecord? Epoch)>(p =>
            {
                var (from, to) = p.Phase.StartsWith("choosing", StringComparison.Ordinal) ? (0.05, 0.45) : p.Phase == "training" ? (0.45, 0.7) : (0.7, 0.75);
                var fraction = p.Epoch is { } e && epochs is not null ? from + (to - from) * Math.Min(1, e.Epoch / double.Parse(epochs, CultureInfo.InvariantCulture)) : from;
                var message = p.Epoch is { } ep
                    ? $"{p.Phase}: iteration {ep.Epoch} of {epochs}, loss {ep.TrainLoss:G4}{(ep.ValidationNdcg is { } v ? $", validation NDCG@10 {v:F4}" : "")}"
                    : p.Phase;
                _ = Report(fraction, message);
            });
            var result = await Task.Run(() => Experiment.Run(data.Interactions, spec, data.ItemCategory, data.Groups, progress, cancellationToken, data.Features), cancellationToken);
            await jobs.LogAsync(job, $"NDCG@10 {result.Metrics.Metrics["ndcg@10"]:F4} vs popularity {result.Baseline.Metrics["ndcg@10"]:F4} on {result.Metrics.TestUsers:N0} test users", cancellationToken);

            // The evaluated model saw only the training part; the served one sees everything, for the chosen number of epochs.
            await Report(0.75, "training the serving model on all the data");
            var servingHyper = new Dictionary<string, string>(request.Hyperparameters);
            if (result.BestEpoch is { } best)
                servingHyper[model is AlsRecommender ? "iterations" : "epochs"] = best.ToString(CultureInfo.InvariantCulture);
            var serving = Recipes.Create(request.Recipe, servingHyper, request.ExcludeSeen);
            await Task.Run(() => serving.Fit(serving.Prepare(data.Interactions).ToMatrix(), new FitOptions { Seed = request.Seed, Cancellation = cancellationToken, Features = data.Features }), cancellationToken);
            var artifact = new ModelArtifact(serving, data.UserIds, data.ItemIds).ToBytes(servingHyper);

            await Report(0.9, "registering the version");
            var history = result.History.Select(h => new
            {
                epoch = h.Epoch, train_loss = h.TrainLoss, validation_loss = h.ValidationLoss, validation_ndcg_at_10 = h.ValidationNdcg, seconds = h.Seconds,
                best = h.Epoch == result.BestEpoch,
            });
            var fingerprint = data.Fingerprint(result.Split);
            version = await registry.CompleteAsync(version.Id,
                new Dictionary<string, object>(result.Metrics.Metrics.ToDictionary(m => m.Key, m => (object)m.Value)) { ["test_users"] = result.Metrics.TestUsers, ["groups"] = result.Metrics.GroupNdcg },
                result.Baseline.Metrics, history, fingerprint, clock.Elapsed, artifact);

            var (promote, reason) = request.AutoPromote ? await ShouldPromoteAsync(version, cancellationToken) : (false, "auto-promote is off");
            await jobs.LogAsync(job, promote ? $"promoting {version.Version}: {reason}" : $"{version.Version} stays a challenger: {reason}", cancellationToken);
            BatchResult? batchResult = null;
            if (promote)
            {
                version = await registry.PromoteAsync(version.Version, cancellationToken);
                await Report(0.92, "refreshing the serving cache");
                batchResult = await batch.WriteAsync(ModelArtifact.FromBytes(artifact), version.Version,
                    new InlineProgress<(double, string)>(p => _ = Report(0.92 + 0.08 * p.Item1, p.Item2)), cancellationToken);
            }
            var outcome = new TrainingOutcome(version, promote, reason, batchResult);
            await jobs.FinishAsync(job, JobStatus.Succeeded,
                $"{version.Version} ({request.Recipe}) trained in {clock.Elapsed.TotalSeconds:F1} s; NDCG@10 {version.Metric("ndcg@10"):F4} vs popularity {version.BaselineMetric("ndcg@10"):F4}" +
                (promote ? "; promoted to champion" : ""),
                new { version = version.Version, promoted = promote, reason });
            return outcome;
        }
        catch (OperationCanceledException)
        {
            if (version is not null)
                await registry.FailAsync(version.Id, "cancelled");
            await jobs.FinishAsync(job, JobStatus.Cancelled, "Cancelled; the serving cache is untouched");
            throw;
        }
        catch (Exception e)
        {
            if (version is not null)
                await registry.FailAsync(version.Id, e.Message);
            await jobs.FinishAsync(job, JobStatus.Failed, "Training failed; the serving cache is untouched", error: e.Message);
            throw;
        }

        Task Report(double fraction, string message) => jobs.ReportAsync(job, fraction, message, CancellationToken.None);
    }

    /// <summary>Promotes a version by hand (page or CLI) and refreshes the serving cache from it.</summary>
    public Task<(ModelVersion Version, BatchResult? Batch)> PromoteAsync(string version, string requestedBy, CancellationToken cancellationToken = default) =>
        audit.AuditAsync(requestedBy, Audit.AuditActions.Promote, version, new { version }, () => PromoteAuditedAsync(version, requestedBy, cancellationToken),
            r => r.Batch is { } b ? $"champion; cache refreshed for {b.Users:N0} users" : "champion; a cache refresh was already running");

    private async Task<(ModelVersion Version, BatchResult? Batch)> PromoteAuditedAsync(string version, string requestedBy, CancellationToken cancellationToken)
    {
        var promoted = await registry.PromoteAsync(version, cancellationToken);
        logger.LogInformation("{User} promoted {Version}", requestedBy, version);
        var refreshed = await batch.RunForChampionAsync(requestedBy, cancellationToken);
        return (promoted, refreshed);
    }

    /// <summary>Promote when there is no champion, or when this version's NDCG@10 beats the champion's on the same split.</summary>
    private async Task<(bool, string)> ShouldPromoteAsync(ModelVersion candidate, CancellationToken cancellationToken)
    {
        var champion = await registry.ChampionAsync(cancellationToken);
        if (champion is null)
            return (true, "there is no champion yet");
        if (!Comparable(champion.DataFingerprint, candidate.DataFingerprint))
            return (false, $"champion {champion.Version} was evaluated on another split or data window, so the figures are not comparable");
        var mine = candidate.Metric("ndcg@10") ?? 0;
        var theirs = champion.Metric("ndcg@10") ?? 0;
        return mine > theirs
            ? (true, $"NDCG@10 {mine:F4} beats champion {champion.Version}'s {theirs:F4}")
            : (false, $"NDCG@10 {mine:F4} does not beat champion {champion.Version}'s {theirs:F4}");
    }

    /// <summary>Two versions' figures compare when they were evaluated on the same split of the same data.</summary>
    public static bool Comparable(string fingerprintA, string fingerprintB)
    {
        using var a = System.Text.Json.JsonDocument.Parse(fingerprintA);
        using var b = System.Text.Json.JsonDocument.Parse(fingerprintB);
        foreach (var key in new[] { "split", "test_ratio", "cutoff", "from", "to", "interactions" })
        {
            var va = a.RootElement.TryGetProperty(key, out var x) ? x.ToString() : null;
            var vb = b.RootElement.TryGetProperty(key, out var y) ? y.ToString() : null;
            if (va != vb)
                return false;
        }
        return true;
    }
}
