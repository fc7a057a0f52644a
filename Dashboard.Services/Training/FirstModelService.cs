using Dapper;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Recs.Services.Jobs;
using Recs.Services.Models;

namespace Recs.Services.Training;

/// <summary>
/// First start: when the database has interactions but no model at all (demo data just loaded, or a first import
/// followed by a restart), trains the first models in the background so that every page has something to show a
/// minute later: <c>auto</c> for user recommendations, within <see cref="TrainingOptions.FirstModelBudgetSeconds"/>,
/// promoted as the first champion, then the <c>similar-items</c> recipe for the similar-items campaign. Both are
/// ordinary training jobs (progress on the overview and the Training page, in the audit log as "first start").
/// It waits for the demo-data job of this process to finish, hearing of it from the jobs' progress feed.
/// </summary>
public sealed class FirstModelService(NpgsqlDataSource dataSource, JobService jobs, TrainingService training, IOptions<TrainingOptions> options,
    ILogger<FirstModelService> logger) : BackgroundService
{
    public const string Actor = "first start";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        if (!options.Value.FirstModel)
            return;
        // Wake on every finished job (demo data, an import): the check below decides whether there is work.
        var finished = new SemaphoreSlim(0);
        using var subscription = jobs.Subscribe(job =>
        {
            if (!job.IsActive && job.Kind is JobKinds.DemoData or JobKinds.Import)
                finished.Release();
        });
        try
        {
            do
            {
                if (await NeedsFirstModelAsync(stoppingToken))
                {
                    await TrainFirstModelsAsync(stoppingToken);
                    return;
                }
            }
            while (await WaitAsync(finished, stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException or JobAlreadyRunningException)
        {
            logger.LogWarning("The first model was not trained: {Message}. Train one on the Training page or with 'train'.", e.Message);
        }
    }

    private static async Task<bool> WaitAsync(SemaphoreSlim finished, CancellationToken stoppingToken)
    {
        await finished.WaitAsync(stoppingToken);
        return true;
    }

    /// <summary>There are interactions, no model version has ever been registered, and no demo data is being loaded.</summary>
    private async Task<bool> NeedsFirstModelAsync(CancellationToken cancellationToken)
    {
        const string sql = """
            select exists (select 1 from interactions)
               and not exists (select 1 from model_versions)
               and not exists (select 1 from jobs where kind = any(@busy) and status in ('queued', 'running'))
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<bool>(new CommandDefinition(sql,
            new { busy = new[] { JobKinds.DemoData, JobKinds.Import, JobKinds.Training } }, cancellationToken: cancellationToken));
    }

    private async Task TrainFirstModelsAsync(CancellationToken cancellationToken)
    {
        logger.LogInformation("Training the first model (auto, {Budget} s budget)", options.Value.FirstModelBudgetSeconds);
        var first = await training.RunNowAsync(new TrainingRequest
        {
            Recipe = RecipeCatalog.Auto,
            Hyperparameters = new Dictionary<string, string>
            {
                ["budget-seconds"] = options.Value.FirstModelBudgetSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
            },
            RequestedBy = Actor,
        }, cancellationToken);
        logger.LogInformation("First model {Version} ({Recipe}) serves user recommendations", first.Version.Version, first.Version.Recipe);
        var similar = await training.RunNowAsync(new TrainingRequest
        {
            Recipe = Engine.ItemKnnRecommender.Name, Campaign = Campaigns.SimilarItems, RequestedBy = Actor,
        }, cancellationToken);
        logger.LogInformation("{Version} ({Recipe}) serves similar items", similar.Version.Version, similar.Version.Recipe);
    }
}
