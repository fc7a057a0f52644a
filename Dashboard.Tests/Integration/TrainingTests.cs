using System.Collections.Concurrent;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Recs.Services.Engine;
using Recs.Services.Jobs;
using Recs.Services.Models;
using Recs.Services.Training;

namespace Recs.Tests.Integration;

/// <summary>The training job, registry and batch inference against a real database with demo data.</summary>
public sealed class TrainingTests(DemoDatabaseFixture db) : IClassFixture<DemoDatabaseFixture>, IAsyncLifetime
{
    private ServiceProvider _services = null!;

    private static readonly Dictionary<string, string> SmallAls = new() { ["factors"] = "8", ["iterations"] = "5" };

    public Task InitializeAsync()
    {
        _services = TestServices.Create(db.ConnectionString);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _services.DisposeAsync();

    private TrainingService Training => _services.GetRequiredService<TrainingService>();

    private ModelRegistry Registry => _services.GetRequiredService<ModelRegistry>();

    [Fact]
    public async Task A_training_run_registers_a_version_with_everything_needed_to_reproduce_and_serve_it()
    {
        var outcome = await Training.RunNowAsync(new TrainingRequest { Recipe = AlsRecommender.Name, Hyperparameters = SmallAls, Seed = 5 });

        var v = outcome.Version;
        Assert.Matches(@"^\d+\.\d+\.\d+$", v.Version);
        Assert.Equal(AlsRecommender.Name, v.Recipe);
        Assert.Equal(5, v.Seed);
        Assert.Contains("\"factors\": \"8\"", v.Hyperparameters, StringComparison.Ordinal);
        Assert.Contains("\"split\": \"temporal\"", v.DataFingerprint, StringComparison.Ordinal);
        Assert.Contains("\"interactions\"", v.DataFingerprint, StringComparison.Ordinal);
        Assert.NotNull(v.Metric("ndcg@10"));
        Assert.NotNull(v.BaselineMetric("ndcg@10"));
        Assert.NotNull(v.Metric("diversity@10"));
        Assert.Contains("validation_ndcg_at_10", v.History!, StringComparison.Ordinal);
        Assert.True(v.DurationMs > 0);
        var artifact = await Registry.LoadArtifactAsync(v.Version);
        Assert.NotNull(artifact);
        Assert.Equal(db.Data.Products.Length, artifact.ItemIds.Length);

        var job = await _services.GetRequiredService<JobService>().LatestAsync(JobKinds.Training);
        Assert.Equal(JobStatus.Succeeded, job!.Status);
    }

    [Fact]
    public async Task Promotion_makes_one_champion_archives_the_last_and_fills_the_cache()
    {
        var first = await Training.RunNowAsync(new TrainingRequest { Recipe = PopularityRecommender.Name, AutoPromote = false });
        var second = await Training.RunNowAsync(new TrainingRequest { Recipe = ItemKnnRecommender.Name, AutoPromote = false });
        Assert.Equal(ModelStatus.Challenger, second.Version.Status);

        await Registry.PromoteAsync(first.Version.Version);
        await Registry.PromoteAsync(second.Version.Version);

        Assert.Equal(ModelStatus.Archived, (await Registry.GetAsync(first.Version.Version))!.Status);
        Assert.Equal(second.Version.Version, (await Registry.ChampionAsync())!.Version);
        await using var connection = await db.DataSource.OpenConnectionAsync();
        Assert.Equal(1, await connection.ExecuteScalarAsync<int>("select count(*) from model_versions where status = 'champion'"));

        var batch = await _services.GetRequiredService<BatchInference>().RunForChampionAsync("test");
        Assert.NotNull(batch);
        var usersWithHistory = await connection.ExecuteScalarAsync<int>("select count(distinct user_id) from interactions");
        Assert.Equal(usersWithHistory, await connection.ExecuteScalarAsync<int>("select count(*) from offline_user_recommendations"));
        Assert.Equal(db.Data.Products.Length, await connection.ExecuteScalarAsync<int>("select count(*) from offline_similar_items"));
        Assert.Equal(0, await connection.ExecuteScalarAsync<int>("select count(*) from offline_user_recommendations where model_version <> @v", new { v = second.Version.Version }));
        // Nobody is recommended what they already have.
        Assert.Equal(0, await connection.ExecuteScalarAsync<int>("""
            select count(*) from offline_user_recommendations r, jsonb_array_elements(r.recommendations) e
            where exists (select 1 from interactions i where i.user_id = r.user_id and i.item_id = (e->>'product_id')::bigint and i.event_type in ('purchase', 'add-to-cart', 'view'))
            """));
        Assert.Equal(25, await connection.ExecuteScalarAsync<int>("select max(jsonb_array_length(recommendations)) from offline_user_recommendations"));
    }

    [Fact]
    public async Task Each_campaign_serves_its_own_version_and_refreshes_only_its_own_cache()
    {
        var users = await Training.RunNowAsync(new TrainingRequest { Recipe = AlsRecommender.Name, Hyperparameters = SmallAls, AutoPromote = false });
        var similar = await Training.RunNowAsync(new TrainingRequest { Recipe = ItemKnnRecommender.Name, Campaign = Campaigns.SimilarItems, AutoPromote = false });
        await Training.PromoteAsync(users.Version.Version, "test");
        await using var connection = await db.DataSource.OpenConnectionAsync();
        // With no version of its own, similar-items serves the user-recommendations model.
        var campaigns = (await Registry.CampaignsAsync()).ToDictionary(c => c.Name);
        Assert.Null(campaigns[Campaigns.SimilarItems].OwnVersion);
        Assert.Equal(users.Version.Version, campaigns[Campaigns.SimilarItems].Version);
        Assert.Equal(users.Version.Version, await connection.ExecuteScalarAsync<string>("select distinct model_version from offline_similar_items"));

        await Training.PromoteAsync(similar.Version.Version, "test", campaign: Campaigns.SimilarItems);

        Assert.Equal(similar.Version.Version, await connection.ExecuteScalarAsync<string>("select distinct model_version from offline_similar_items"));
        Assert.Equal(users.Version.Version, await connection.ExecuteScalarAsync<string>("select distinct model_version from offline_user_recommendations"));
        Assert.Equal(users.Version.Version, (await Registry.ChampionAsync())!.Version);
        var store = _services.GetRequiredService<ModelStore>();
        Assert.Equal(ItemKnnRecommender.Name, (await store.ServingAsync(Campaigns.SimilarItems))!.Recipe.Name);
        // Personalized ranking has no version of its own: it ranks with the champion.
        Assert.Equal(users.Version.Version, (await store.ServingAsync(Campaigns.PersonalizedRanking))!.Version.Version);
    }

    [Fact]
    public async Task A_version_cannot_serve_a_campaign_its_recipe_cannot_and_an_unknown_campaign_is_named()
    {
        var knn = await Training.RunNowAsync(new TrainingRequest { Recipe = UserKnnRecommender.Name, AutoPromote = false });

        var wrong = await Assert.ThrowsAsync<InvalidOperationException>(() => Registry.PromoteAsync(knn.Version.Version, Campaigns.SimilarItems));
        Assert.Contains("cannot serve the similar-items campaign", wrong.Message, StringComparison.Ordinal);
        var unknown = await Assert.ThrowsAsync<ArgumentException>(() => Registry.PromoteAsync(knn.Version.Version, "homepage"));
        Assert.Contains("user-recommendations, similar-items, personalized-ranking", unknown.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new TrainingRequest { Recipe = UserKnnRecommender.Name, Campaign = Campaigns.SimilarItems }.Validate());
    }

    [Fact]
    public async Task A_failed_or_training_version_cannot_be_promoted_and_an_unknown_one_is_named()
    {
        var v = await Registry.BeginAsync("bpr", new { }, 1, new { users = 1 });
        await Registry.FailAsync(v.Id, "boom");

        await Assert.ThrowsAsync<InvalidOperationException>(() => Registry.PromoteAsync(v.Version));
        var missing = await Assert.ThrowsAsync<KeyNotFoundException>(() => Registry.PromoteAsync("9.9.9"));
        Assert.Contains("9.9.9", missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Versions_count_runs_on_the_same_data_and_move_the_minor_number_on_new_data()
    {
        Assert.Equal("1.0.0", ModelRegistry.NextVersion(null, false));
        Assert.Equal("1.0.4", ModelRegistry.NextVersion("1.0.3", true));
        Assert.Equal("1.1.0", ModelRegistry.NextVersion("1.0.3", false));
    }

    [Fact]
    public async Task Two_concurrent_training_requests_run_one_and_refuse_the_other()
    {
        // The first job is held at its first progress report (the subscriber runs on the job's own thread) until the
        // second request has been refused and the cancel sent, so the outcome does not depend on how fast training is.
        var jobs = _services.GetRequiredService<JobService>();
        using var held = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        using var subscription = jobs.Subscribe(job =>
        {
            if (job.Kind == JobKinds.Training && job.Status == JobStatus.Running && job.Progress > 0 && !release.IsSet)
            {
                held.Set();
                release.Wait(TimeSpan.FromMinutes(2));
            }
        });
        var request = new TrainingRequest { Recipe = AlsRecommender.Name, Hyperparameters = SmallAls, AutoPromote = false };
        var started = await Training.StartAsync(request);
        Assert.True(held.Wait(TimeSpan.FromMinutes(2)), "the first job never reported progress");
        // A second instance of the app shares only the database.
        await using var otherInstance = TestServices.Create(db.ConnectionString);

        var refused = await Assert.ThrowsAsync<JobAlreadyRunningException>(() => otherInstance.GetRequiredService<TrainingService>().StartAsync(request));
        Assert.Contains("already running", refused.Message, StringComparison.Ordinal);

        Assert.True(await Training.CancelAsync(started.Id, "test"));
        release.Set();
        for (var wait = 0; wait < 600 && (await jobs.LatestAsync(JobKinds.Training))!.IsActive; wait++)
            await Task.Delay(100);
        Assert.Equal(JobStatus.Cancelled, (await jobs.LatestAsync(JobKinds.Training))!.Status);
        Assert.Equal(started.Id, (await jobs.LatestAsync(JobKinds.Training))!.Id);
    }

    [Fact]
    public async Task Auto_chooses_a_recipe_on_validation_data_and_keeps_every_trial_with_the_version()
    {
        var outcome = await Training.RunNowAsync(new TrainingRequest
        {
            Recipe = RecipeCatalog.Auto, Hyperparameters = new Dictionary<string, string> { ["trials"] = "5" }, AutoPromote = false, Seed = 7,
        });

        var v = outcome.Version;
        Assert.NotEqual(RecipeCatalog.Auto, v.Recipe);
        Assert.Contains(v.Recipe, RecipeCatalog.All.Select(r => r.Name));
        Assert.NotNull(v.Search);
        using var search = System.Text.Json.JsonDocument.Parse(v.Search);
        var trials = search.RootElement.GetProperty("trials").EnumerateArray().ToList();
        Assert.Equal(5, trials.Count);
        Assert.Equal(v.Recipe, search.RootElement.GetProperty("chosen").GetString());
        // The chosen recipe is the trial with the best validation score.
        var best = trials.Where(t => t.GetProperty("validation_ndcg_at_10").ValueKind == System.Text.Json.JsonValueKind.Number)
            .OrderByDescending(t => t.GetProperty("validation_ndcg_at_10").GetDouble()).First();
        Assert.Equal(v.Recipe, best.GetProperty("recipe").GetString());
        Assert.NotNull(v.Metric("ndcg@10"));
        Assert.NotNull(v.BaselineMetric("ndcg@10"));
        var artifact = await Registry.LoadArtifactAsync(v.Version);
        Assert.Equal(v.Recipe, artifact!.Model.Recipe);
    }

    [Fact]
    public async Task A_reader_never_sees_an_empty_half_written_or_mixed_cache_while_it_is_replaced()
    {
        var first = await Training.RunNowAsync(new TrainingRequest { Recipe = PopularityRecommender.Name, AutoPromote = false });
        await Registry.PromoteAsync(first.Version.Version);
        var batch = _services.GetRequiredService<BatchInference>();
        await batch.RunForChampionAsync("test");
        await using var connection = await db.DataSource.OpenConnectionAsync();
        var full = await connection.ExecuteScalarAsync<int>("select count(*) from offline_user_recommendations");
        Assert.True(full > 0);

        var second = await Training.RunNowAsync(new TrainingRequest { Recipe = ItemKnnRecommender.Name, AutoPromote = false });
        await Registry.PromoteAsync(second.Version.Version);
        var observations = new ConcurrentBag<(int Rows, int Versions)>();
        var duringBatch = 0;
        var batchRunning = false;
        using var stop = new CancellationTokenSource();
        // A thread of its own, not the thread pool: the batch's Parallel.For keeps the pool's threads busy on two cores,
        // and a pooled reader could then not read at all while the cache is replaced.
        var reader = new Thread(() =>
        {
            using var readerConnection = db.DataSource.OpenConnection();
            while (!stop.IsCancellationRequested)
            {
                observations.Add(readerConnection.QuerySingle<(int, int)>("select count(*)::int, count(distinct model_version)::int from offline_user_recommendations"));
                if (Volatile.Read(ref batchRunning))
                    Interlocked.Increment(ref duringBatch);
            }
        }) { IsBackground = true };
        reader.Start();
        while (observations.Count < 3)
            await Task.Delay(10);

        Volatile.Write(ref batchRunning, true);
        await batch.RunForChampionAsync("test");
        Volatile.Write(ref batchRunning, false);
        await Task.Delay(50);
        await stop.CancelAsync();
        reader.Join();

        Assert.True(duringBatch > 0, $"no read happened while the cache was replaced ({observations.Count} in all)");
        Assert.All(observations, o =>
        {
            Assert.Equal(full, o.Rows);
            Assert.Equal(1, o.Versions);
        });
        Assert.Equal(second.Version.Version, await connection.ExecuteScalarAsync<string>("select distinct model_version from offline_user_recommendations"));
    }

    [Fact]
    public async Task A_version_left_in_training_by_a_dead_process_is_marked_failed()
    {
        var v = await Registry.BeginAsync("bpr", new { }, 1, new { users = 2 });
        await using (var connection = await db.DataSource.OpenConnectionAsync())
            await connection.ExecuteAsync("update model_versions set created_at = now() - interval '1 hour' where id = @id", new { id = v.Id });

        var failed = await Registry.FailAbandonedAsync(TimeSpan.FromMinutes(2));

        Assert.True(failed >= 1);
        Assert.Equal(ModelStatus.Failed, (await Registry.GetAsync(v.Version))!.Status);
    }

    [Fact]
    public async Task A_bad_request_is_refused_before_anything_starts()
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() => Training.StartAsync(new TrainingRequest { Recipe = "user-personalization", Hyperparameters = new Dictionary<string, string> { ["factors"] = "-3" } }));
        Assert.Contains("factors", e.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentException>(() => Training.StartAsync(new TrainingRequest { Split = "sideways" }));
    }
}
