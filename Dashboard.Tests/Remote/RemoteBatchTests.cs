using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Recs.Services.Jobs;
using Recs.Services.Models;
using Recs.Services.Remote;
using Recs.Services.Training;
using Recs.Tests.Integration;

namespace Recs.Tests.Remote;

/// <summary>
/// The remote batch job on a real PostgreSQL against a scripted Personalize over real HTTP: it fills the cache stamped
/// with the campaign ARN, a failure part way leaves the cache as it was and keeps what was fetched, and the next run
/// asks only for the rest.
/// </summary>
public sealed class RemoteBatchTests(DemoDatabaseFixture db) : IClassFixture<DemoDatabaseFixture>, IAsyncLifetime
{
    private const string Arn = "arn:aws:personalize:eu-west-1:123456789012:campaign/retail-users";
    private RemotePersonalizeServer _server = null!;
    private string[] _products = [];

    public async Task InitializeAsync()
    {
        _server = await RemotePersonalizeServer.StartAsync();
        await using var connection = await db.DataSource.OpenConnectionAsync();
        _products = (await connection.QueryAsync<string>("select external_id from products order by id")).ToArray();
        // Each user's list depends on the user: five products from a place given by the id's hash.
        _server.Answer = (context, body) =>
        {
            var key = body.TryGetProperty("userId", out var u) ? u.GetString()! : body.GetProperty("itemId").GetString()!;
            var start = (int)(System.IO.Hashing.Crc32.HashToUInt32(System.Text.Encoding.UTF8.GetBytes(key)) % (uint)_products.Length);
            return RemotePersonalizeServer.Ok(context, [.. Enumerable.Range(0, 5).Select(k => _products[(start + k) % _products.Length]), "NOT-IN-CATALOGUE"]);
        };
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private ServiceProvider Services(string campaign = Campaigns.UserRecommendations, int sample = 0) => TestServices.Create(db.ConnectionString, new Dictionary<string, string?>
    {
        [$"Engine:Remote:{campaign}:Endpoint"] = _server.BaseAddress.ToString(),
        [$"Engine:Remote:{campaign}:Region"] = "eu-west-1",
        [$"Engine:Remote:{campaign}:CampaignArn"] = Arn,
        [$"Engine:Remote:{campaign}:AccessKeyId"] = RemotePersonalizeServer.AccessKeyId,
        [$"Engine:Remote:{campaign}:SecretAccessKey"] = RemotePersonalizeServer.Secret,
        [$"Engine:Remote:{campaign}:SampleUsersPerRegion"] = sample.ToString(System.Globalization.CultureInfo.InvariantCulture),
        [$"Engine:Remote:{campaign}:Concurrency"] = "4",
        [$"Engine:Remote:{campaign}:RequestsPerSecond"] = "500",
        [$"Engine:Remote:{campaign}:MaxRetries"] = "0",
    });

    [Fact]
    public async Task Remote_fetch_that_fails_part_way_keeps_the_cache_then_resumes_and_stamps_the_arn()
    {
        await using var connection = await db.DataSource.OpenConnectionAsync();
        var someUser = await connection.QuerySingleAsync<long>("select min(user_id) from interactions");
        await connection.ExecuteAsync("delete from offline_user_recommendations; delete from remote_fetches;");
        await connection.ExecuteAsync("insert into offline_user_recommendations values (@someUser, '[]', 'old-version', now())", new { someUser });
        var active = await connection.QuerySingleAsync<int>("select count(distinct user_id) from interactions where event_type = any(@types)",
            new { types = new TrainingOptions().EventWeights.Where(w => w.Value > 0).Select(w => w.Key).ToArray() });
        await using var services = Services();
        var remote = services.GetRequiredService<RemoteBatch>();

        // The secret stops working after 60 requests: the job fails with a message naming the settings, the cache is as it was.
        _server.FailFrom = 60;
        var failure = await Assert.ThrowsAsync<PersonalizeException>(() => remote.RunAsync(Campaigns.UserRecommendations, "tests"));
        Assert.Equal(PersonalizeErrorKind.Credentials, failure.Kind);
        Assert.Equal("old-version", Assert.Single(await connection.QueryAsync<string>("select model_version from offline_user_recommendations")));
        var job = await services.GetRequiredService<JobService>().LatestAsync(JobKinds.Batch);
        Assert.Equal(JobStatus.Failed, job!.Status);
        Assert.Contains("SecretAccessKey", job.Error, StringComparison.Ordinal);
        Assert.Contains("failed after", await connection.QuerySingleAsync<string>("select array_to_string(log, E'\\n') from jobs where id = @id", new { id = job.Id }), StringComparison.Ordinal);
        var engine = (await services.GetRequiredService<CampaignEngines>().RemoteAsync())[Campaigns.UserRecommendations];
        Assert.Null(engine.Served);
        Assert.Contains("InvalidSignatureException", engine.Failed!.Error, StringComparison.Ordinal);
        var kept = await connection.QuerySingleAsync<int>("select count(*) from remote_fetch_pages");
        // Answers still in flight when the failure stopped the rest may be dropped; none after it can have been answered.
        Assert.InRange(kept, 1, 60);

        // The next run asks only for the users not fetched yet, and writes them all at once, stamped with the ARN.
        _server.FailFrom = null;
        var before = _server.Requests.Count;
        var result = await remote.RunAsync(Campaigns.UserRecommendations, "tests");
        Assert.NotNull(result);
        Assert.Equal(active, result.Lists);
        Assert.Equal(kept, result.Resumed);
        Assert.Equal(active - kept, _server.Requests.Count - before);
        Assert.Equal(active, await connection.QuerySingleAsync<int>("select count(*) from offline_user_recommendations where model_version = @Arn", new { Arn }));
        Assert.Equal(0, await connection.QuerySingleAsync<int>("select count(*) from offline_user_recommendations where model_version <> @Arn", new { Arn }));
        // The succeeded fetch keeps its lists (an experiment's remote arm is served from them), and only its own.
        Assert.Equal(active, await connection.QuerySingleAsync<int>("select count(*) from remote_fetch_pages p join remote_fetches f on f.id = p.fetch_id where f.status = 'succeeded'"));
        Assert.Equal(active, await connection.QuerySingleAsync<int>("select count(*) from remote_fetch_pages"));
        Assert.True(await connection.QuerySingleAsync<int>("select count(*) from region_user_counts where model_version = @Arn", new { Arn }) > 0);

        // A cached list is the remote answer in database ids, items the catalogue lacks left out.
        var (userId, external) = await connection.QuerySingleAsync<(long, string)>("select c.id, c.external_id from customers c join offline_user_recommendations r on r.user_id = c.id order by c.id limit 1");
        var cached = await connection.QueryAsync<string>("""
            select p.external_id from offline_user_recommendations r cross join lateral jsonb_array_elements(r.recommendations) with ordinality x(e, ord)
            join products p on p.id = (x.e->>'product_id')::bigint where r.user_id = @userId order by x.ord
            """, new { userId });
        var start = (int)(System.IO.Hashing.Crc32.HashToUInt32(System.Text.Encoding.UTF8.GetBytes(external)) % (uint)_products.Length);
        Assert.Equal(Enumerable.Range(0, 5).Select(k => _products[(start + k) % _products.Length]), cached);
        var served = (await services.GetRequiredService<CampaignEngines>().RemoteAsync())[Campaigns.UserRecommendations];
        Assert.Equal(Arn, served.Served!.CampaignArn);
        Assert.Null(served.Failed);
        Assert.StartsWith($"AWS Personalize {Arn}, fetched ", CampaignEngines.Describe(Arn, served.Served.FinishedAt), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Remote_sample_asks_a_seeded_sample_per_region_and_similar_items_ask_every_product()
    {
        await using var connection = await db.DataSource.OpenConnectionAsync();
        await connection.ExecuteAsync("delete from remote_fetches");
        await using (var services = Services(sample: 5))
        {
            var result = await services.GetRequiredService<RemoteBatch>().RunAsync(Campaigns.UserRecommendations, "tests");
            var regions = await connection.QuerySingleAsync<int>("select count(distinct region) from customers c where region is not null and exists (select 1 from interactions i where i.user_id = c.id)");
            Assert.InRange(result!.Lists, 1, 5 * regions);
            Assert.Equal(result.Lists, await connection.QuerySingleAsync<int>("select count(*) from offline_user_recommendations where model_version = @Arn", new { Arn }));
            Assert.All(await connection.QueryAsync<int>("select count(*)::int from offline_user_recommendations r join customers c on c.id = r.user_id group by c.region"),
                n => Assert.InRange(n, 1, 5));
        }
        await using (var services = Services(Campaigns.SimilarItems))
        {
            _server.Requests.Clear();
            var result = await services.GetRequiredService<RemoteBatch>().RunAsync(Campaigns.SimilarItems, "tests");
            Assert.Equal(_products.Length, result!.Lists);
            Assert.All(_server.Requests, r => Assert.True(r.Body.TryGetProperty("itemId", out _)));
            Assert.Equal(_products.Length, await connection.QuerySingleAsync<int>("select count(*) from offline_similar_items where model_version = @Arn", new { Arn }));
            // An item is not its own related item.
            Assert.Equal(0, await connection.QuerySingleAsync<int>(
                "select count(*) from offline_similar_items s, jsonb_array_elements(s.similar_products) e where (e->>'product_id')::bigint = s.product_id"));
        }
    }
}
