using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Recs.Services.Audit;
using Recs.Services.Engine;
using Recs.Services.Models;
using Recs.Services.Training;
using Recs.Services.Verdicts;

namespace Recs.Tests.Integration;

/// <summary>Reads a trained version's lists as batch inference cached them: what the Users and Similar items pages show.</summary>
internal static class CachedLists
{
    /// <summary>The product ids of a customer's cached list, best first.</summary>
    public static async Task<long[]> UserAsync(Npgsql.NpgsqlDataSource db, long user)
    {
        await using var connection = await db.OpenConnectionAsync();
        return (await connection.QueryAsync<long>("""
            select (x.e->>'product_id')::bigint from offline_user_recommendations r, jsonb_array_elements(r.recommendations) with ordinality x(e, ord)
            where r.user_id = @user order by x.ord
            """, new { user })).ToArray();
    }

    /// <summary>The product ids of a product's cached neighbours, best first.</summary>
    public static async Task<long[]> SimilarAsync(Npgsql.NpgsqlDataSource db, long product)
    {
        await using var connection = await db.OpenConnectionAsync();
        return (await connection.QueryAsync<long>("""
            select (x.e->>'product_id')::bigint from offline_similar_items s, jsonb_array_elements(s.similar_products) with ordinality x(e, ord)
            where s.product_id = @product order by x.ord
            """, new { product })).ToArray();
    }

    /// <summary>Customers with a full cached list (25), lowest id first.</summary>
    public static async Task<long[]> UsersAsync(Npgsql.NpgsqlDataSource db, int count)
    {
        await using var connection = await db.OpenConnectionAsync();
        return (await connection.QueryAsync<long>("select user_id from offline_user_recommendations where jsonb_array_length(recommendations) = 25 order by user_id limit @count", new { count })).ToArray();
    }

    public static async Task<long> ProductWithNeighboursAsync(Npgsql.NpgsqlDataSource db)
    {
        await using var connection = await db.OpenConnectionAsync();
        return await connection.ExecuteScalarAsync<long>("select product_id from offline_similar_items where jsonb_array_length(similar_products) = 25 order by product_id limit 1");
    }
}

/// <summary>Recording, changing, listing, filtering and exporting verdicts against a real database.</summary>
public sealed class VerdictStoreTests(DemoDatabaseFixture db) : IClassFixture<DemoDatabaseFixture>
{
    [Fact]
    public async Task A_verdict_is_stored_once_per_account_subject_and_item_updated_on_a_change_of_mind_audited_and_listed_with_filters()
    {
        await using var services = TestServices.Create(db.ConnectionString);
        var verdicts = services.GetRequiredService<VerdictService>();
        var version = (await services.GetRequiredService<ModelRegistry>().BeginAsync("popularity", new { }, 1, new { users = 1 })).Version;
        await using var connection = await db.DataSource.OpenConnectionAsync();
        var customers = (await connection.QueryAsync<(long Id, string ExternalId)>("select id, external_id from customers order by id limit 2")).ToList();
        var products = (await connection.QueryAsync<(long Id, string Name)>("select id, name from products order by id limit 4")).ToList();

        var first = await verdicts.RecordAsync("vera", new VerdictInput(VerdictKinds.User, customers[0].Id, products[0].Id, version, VerdictValues.DoesNotMakeSense, "  already owns one  "));
        Assert.Equal("already owns one", first.Note);
        Assert.Equal(customers[0].ExternalId, first.SubjectName);
        // Changing your mind updates the same row: one verdict per account, subject and item.
        var changed = await verdicts.RecordAsync("vera", new VerdictInput(VerdictKinds.User, customers[0].Id, products[0].Id, version, VerdictValues.MakesSense));
        Assert.Equal(first.Id, changed.Id);
        Assert.Equal(VerdictValues.MakesSense, changed.Verdict);
        Assert.Null(changed.Note);
        // Another analyst's verdict on the same pair is their own.
        await verdicts.RecordAsync("olaf", new VerdictInput(VerdictKinds.User, customers[0].Id, products[0].Id, version, VerdictValues.DoesNotMakeSense, "odd for a vegan"));
        await verdicts.RecordAsync("olaf", new VerdictInput(VerdictKinds.Product, products[1].Id, products[2].Id, null, VerdictValues.MakesSense, "bought together"));
        await verdicts.RecordAsync("vera", new VerdictInput(VerdictKinds.User, customers[1].Id, products[3].Id, version, VerdictValues.DoesNotMakeSense));

        var (all, total) = await verdicts.ListAsync(new VerdictFilter());
        Assert.Equal(4, total);
        Assert.Equal(4, all.Count);
        Assert.Equal(customers[1].ExternalId, all[0].SubjectName); // newest change first
        Assert.Equal(products[1].Name, all.Single(r => r.Kind == VerdictKinds.Product).SubjectName);

        Assert.Equal(2, (await verdicts.ListAsync(new VerdictFilter(Verdict: VerdictValues.DoesNotMakeSense))).Total);
        Assert.Equal(2, (await verdicts.ListAsync(new VerdictFilter(Account: "VER"))).Total);
        Assert.Equal(3, (await verdicts.ListAsync(new VerdictFilter(Version: version))).Total);
        Assert.Equal(1, (await verdicts.ListAsync(new VerdictFilter(Kind: VerdictKinds.Product))).Total);
        Assert.Equal("odd for a vegan", (await verdicts.ListAsync(new VerdictFilter(Text: "VEGAN"))).Rows.Single().Note);
        Assert.Equal(2, (await verdicts.ListAsync(new VerdictFilter(Text: customers[0].ExternalId))).Total);
        Assert.Equal(0, (await verdicts.ListAsync(new VerdictFilter(Text: "100%_"))).Total); // wildcards are what was typed
        Assert.Equal(1, (await verdicts.ListAsync(new VerdictFilter(Verdict: VerdictValues.MakesSense, Account: "vera", Kind: VerdictKinds.User))).Total);
        Assert.Throws<ArgumentException>(() => new VerdictFilter(Verdict: "meh").Checked());

        var mine = await verdicts.MineAsync("vera", VerdictKinds.User, customers[0].Id);
        Assert.Equal(VerdictValues.MakesSense, mine[products[0].Id].Verdict);
        Assert.Equal([version], await verdicts.VersionsAsync());

        var csv = (await verdicts.CsvAsync(new VerdictFilter(Account: "olaf"))).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("updated_at,account,kind,subject_id,subject,item_id,item_external_id,item,model_version,verdict,note", csv[0]);
        Assert.Equal(3, csv.Length);
        Assert.EndsWith(",doesnt-make-sense,odd for a vegan", csv[2], StringComparison.Ordinal);

        var (audited, count) = await services.GetRequiredService<AuditLog>().ListAsync(action: AuditActions.Verdict);
        Assert.Equal(5, count);
        Assert.Equal(("vera", "succeeded: makes sense"), (audited[3].Actor, audited[3].Outcome));
        Assert.Contains($"\"item\": {products[0].Id}", audited[3].Parameters, StringComparison.Ordinal);
    }

}

/// <summary>Bad input to the verdict store (its own database: it stores one verdict).</summary>
public sealed class VerdictInputTests(DemoDatabaseFixture db) : IClassFixture<DemoDatabaseFixture>
{
    [Fact]
    public async Task Bad_input_is_refused_with_a_message_naming_what_is_wrong_and_nothing_is_stored()
    {
        await using var services = TestServices.Create(db.ConnectionString);
        var verdicts = services.GetRequiredService<VerdictService>();
        await using var connection = await db.DataSource.OpenConnectionAsync();
        var customer = await connection.ExecuteScalarAsync<long>("select min(id) from customers");
        var product = await connection.ExecuteScalarAsync<long>("select min(id) from products");
        var before = await connection.ExecuteScalarAsync<long>("select count(*) from verdicts");

        async Task<string> Refused(string account, VerdictInput input) => (await Assert.ThrowsAsync<ArgumentException>(() => verdicts.RecordAsync(account, input))).Message;

        Assert.Equal("There is no customer 999999999.", await Refused("vera", new VerdictInput(VerdictKinds.User, 999_999_999, product, null, VerdictValues.MakesSense)));
        Assert.Equal("There is no product 999999999.", await Refused("vera", new VerdictInput(VerdictKinds.Product, 999_999_999, product, null, VerdictValues.MakesSense)));
        Assert.Equal("There is no product -4 to give a verdict on.", await Refused("vera", new VerdictInput(VerdictKinds.User, customer, -4, null, VerdictValues.MakesSense)));
        Assert.Equal("There is no model version 9.9.9.", await Refused("vera", new VerdictInput(VerdictKinds.User, customer, product, "9.9.9", VerdictValues.MakesSense)));
        Assert.Contains("keep it to 500 or fewer", await Refused("vera", new VerdictInput(VerdictKinds.User, customer, product, null, VerdictValues.MakesSense, new string('x', 501))), StringComparison.Ordinal);
        Assert.Contains("the verdicts are makes-sense, doesnt-make-sense", await Refused("vera", new VerdictInput(VerdictKinds.User, customer, product, null, "meh")), StringComparison.Ordinal);
        Assert.Contains("the kinds are user, product", await Refused("vera", new VerdictInput("region", customer, product, null, VerdictValues.MakesSense)), StringComparison.Ordinal);
        Assert.Contains("signed-in account", await Refused(" ", new VerdictInput(VerdictKinds.User, customer, product, null, VerdictValues.MakesSense)), StringComparison.Ordinal);
        // A NUL is dropped rather than refused by PostgreSQL; 500 characters exactly are fine.
        var ok = await verdicts.RecordAsync("vera", new VerdictInput(VerdictKinds.User, customer, product, null, VerdictValues.MakesSense, "a\0" + new string('y', 499)));
        Assert.Equal(500, ok.Note!.Length);
        Assert.Equal(before + 1, await connection.ExecuteScalarAsync<long>("select count(*) from verdicts"));
    }
}

/// <summary>The replay of verdicts against a trained version, with verdicts built from that version's own lists so the counts are known.</summary>
public sealed class VerdictReplayTests(DemoDatabaseFixture db) : IClassFixture<DemoDatabaseFixture>
{
    [Fact]
    public async Task Replay_counts_rejected_pairs_a_version_still_recommends_and_approved_pairs_it_drops_in_its_top_10()
    {
        await using var services = TestServices.Create(db.ConnectionString);
        var training = services.GetRequiredService<TrainingService>();
        var verdicts = services.GetRequiredService<VerdictService>();
        var replay = services.GetRequiredService<VerdictReplay>();
        var trained = await training.RunNowAsync(new TrainingRequest { Recipe = ItemKnnRecommender.Name, AutoPromote = false });
        var version = trained.Version.Version;
        Assert.Empty((await replay.ReplayAsync(version)).Pairs);
        await training.PromoteAsync(version, "test"); // the cache now holds this version's lists, as the pages show them
        var users = await CachedLists.UsersAsync(db.DataSource, 2);
        var a = await CachedLists.UserAsync(db.DataSource, users[0]);
        var b = await CachedLists.UserAsync(db.DataSource, users[1]);
        var product = await CachedLists.ProductWithNeighboursAsync(db.DataSource);
        var similar = await CachedLists.SimilarAsync(db.DataSource, product);

        async Task Say(string who, string kind, long subject, long item, string verdict) =>
            await verdicts.RecordAsync(who, new VerdictInput(kind, subject, item, version, verdict));
        // Rejected: ranks 1 and 3 of a's list and the first neighbour are in the top 10; rank 15 is not. Two analysts reject rank 1: one pair.
        await Say("vera", VerdictKinds.User, users[0], a[0], VerdictValues.DoesNotMakeSense);
        await Say("olaf", VerdictKinds.User, users[0], a[0], VerdictValues.DoesNotMakeSense);
        await Say("vera", VerdictKinds.User, users[0], a[2], VerdictValues.DoesNotMakeSense);
        await Say("vera", VerdictKinds.User, users[0], a[14], VerdictValues.DoesNotMakeSense);
        await Say("vera", VerdictKinds.Product, product, similar[0], VerdictValues.DoesNotMakeSense);
        // Approved: rank 2 of b's list is kept; ranks 12 and 20 and the 18th neighbour are outside the top 10.
        await Say("vera", VerdictKinds.User, users[1], b[1], VerdictValues.MakesSense);
        await Say("vera", VerdictKinds.User, users[1], b[11], VerdictValues.MakesSense);
        await Say("vera", VerdictKinds.User, users[1], b[19], VerdictValues.MakesSense);
        await Say("olaf", VerdictKinds.Product, product, similar[17], VerdictValues.MakesSense);

        var result = await replay.ReplayAsync(version);

        Assert.Equal((4, 3), (result.Rejected, result.RejectedKept));
        Assert.Equal((4, 3), (result.Approved, result.ApprovedDropped));
        Assert.Equal(0.75, result.RejectedShare, 6);
        Assert.Equal("still recommends 3 of 4 pairs analysts said don't make sense; drops 3 of 4 pairs they said make sense", result.Describe());
        var both = result.Pairs.Single(p => p.SubjectId == users[0] && p.ItemId == a[0]);
        Assert.Equal(["olaf", "vera"], both.Accounts);
        Assert.Equal(1, both.Rank);
        Assert.Equal(3, result.Pairs.Single(p => p.ItemId == a[2] && p.SubjectId == users[0]).Rank);
        Assert.Null(result.Pairs.Single(p => p.ItemId == a[14] && p.SubjectId == users[0]).Rank);
        Assert.Equal(1, result.Pairs.Single(p => p.Kind == VerdictKinds.Product && p.ItemId == similar[0]).Rank);
        // The disagreements come first: 3 rejected still shown, 3 approved dropped.
        Assert.All(result.Pairs.Take(6), p => Assert.True(p.Disagrees));
        Assert.All(result.Pairs.Skip(6), p => Assert.False(p.Disagrees));

        // A promotion to one campaign is judged by the verdicts on what that campaign serves.
        var forUsers = await replay.ReplayAsync(version, Campaigns.UserRecommendations);
        Assert.All(forUsers.Pairs, p => Assert.Equal(VerdictKinds.User, p.Kind));
        Assert.Equal((3, 2, 3, 2), (forUsers.Rejected, forUsers.RejectedKept, forUsers.Approved, forUsers.ApprovedDropped));
        var forSimilar = await replay.ReplayAsync(version, Campaigns.SimilarItems);
        Assert.All(forSimilar.Pairs, p => Assert.Equal(VerdictKinds.Product, p.Kind));
        Assert.Equal((1, 1, 1, 1), (forSimilar.Rejected, forSimilar.RejectedKept, forSimilar.Approved, forSimilar.ApprovedDropped));

        await Assert.ThrowsAsync<KeyNotFoundException>(() => replay.ReplayAsync("9.9.9"));
    }
}

/// <summary>Automatic promotion asks the verdicts first.</summary>
public sealed class AutoPromotionVerdictTests(DemoDatabaseFixture db) : IClassFixture<DemoDatabaseFixture>
{
    [Fact]
    public async Task Auto_promotion_refuses_a_candidate_bringing_back_more_than_the_configured_share_of_rejected_pairs_and_allows_one_below()
    {
        await using var services = TestServices.Create(db.ConnectionString, new Dictionary<string, string?> { ["Verdicts:MaxRejectedShare"] = "0.3" });
        var training = services.GetRequiredService<TrainingService>();
        var verdicts = services.GetRequiredService<VerdictService>();
        var registry = services.GetRequiredService<ModelRegistry>();
        // The champion's lists in the cache; a candidate trained the same way for the similar-items campaign (which has no
        // version of its own, so the figures alone would promote it) recommends exactly these.
        var champion = (await training.RunNowAsync(new TrainingRequest { Recipe = ItemKnnRecommender.Name, AutoPromote = false })).Version.Version;
        await training.PromoteAsync(champion, "test");
        var product = await CachedLists.ProductWithNeighboursAsync(db.DataSource);
        var list = await CachedLists.SimilarAsync(db.DataSource, product);
        async Task Say(long item, string verdict) => await verdicts.RecordAsync("vera", new VerdictInput(VerdictKinds.Product, product, item, champion, verdict));
        // A customer's rejected pair in the champion's top 10 does not bear on what the similar-items campaign serves.
        var user = (await CachedLists.UsersAsync(db.DataSource, 1))[0];
        await verdicts.RecordAsync("vera", new VerdictInput(VerdictKinds.User, user, (await CachedLists.UserAsync(db.DataSource, user))[0], champion, VerdictValues.DoesNotMakeSense));
        // 2 of 5 rejected neighbour pairs are in its top 10: 40 % > 30 %.
        await Say(list[0], VerdictValues.DoesNotMakeSense);
        await Say(list[4], VerdictValues.DoesNotMakeSense);
        await Say(list[12], VerdictValues.DoesNotMakeSense);
        await Say(list[16], VerdictValues.DoesNotMakeSense);
        await Say(list[22], VerdictValues.DoesNotMakeSense);

        var refused = await training.RunNowAsync(new TrainingRequest { Recipe = ItemKnnRecommender.Name, Campaign = Campaigns.SimilarItems, RequestedBy = "tester" });

        Assert.False(refused.Promoted);
        Assert.Contains("still recommends 2 of 5 pairs analysts said don't make sense", refused.PromotionReason, StringComparison.Ordinal);
        Assert.Equal(ModelStatus.Challenger, refused.Version.Status);
        Assert.Null((await registry.CampaignsAsync()).Single(c => c.Name == Campaigns.SimilarItems).OwnVersion);
        var (entries, _) = await services.GetRequiredService<AuditLog>().ListAsync(action: AuditActions.AutoPromoteRefused);
        var entry = Assert.Single(entries);
        Assert.Equal(("tester", refused.Version.Version), (entry.Actor, entry.Target));
        Assert.StartsWith("refused: it still recommends 2 of 5 pairs", entry.Outcome, StringComparison.Ordinal);
        Assert.Contains("\"max_rejected_share\": 0.3", entry.Parameters, StringComparison.Ordinal);
        await using (var connection = await db.DataSource.OpenConnectionAsync())
        {
            var log = await connection.ExecuteScalarAsync<string>("select log::text from jobs where kind = 'training' order by id desc limit 1");
            Assert.Contains($"verdicts replayed against {refused.Version.Version}: still recommends 2 of 5", log, StringComparison.Ordinal);
            Assert.Contains($"{refused.Version.Version} stays a challenger", log, StringComparison.Ordinal);
        }

        // An analyst changes their mind on one pair, another rejected pair outside the top 10 is added: 1 of 5 = 20 % ≤ 30 %.
        await Say(list[4], VerdictValues.MakesSense);
        await Say(list[20], VerdictValues.DoesNotMakeSense);

        var allowed = await training.RunNowAsync(new TrainingRequest { Recipe = ItemKnnRecommender.Name, Campaign = Campaigns.SimilarItems, RequestedBy = "tester" });

        Assert.True(allowed.Promoted, allowed.PromotionReason);
        Assert.Contains("brings back 1 of 5 rejected pairs", allowed.PromotionReason, StringComparison.Ordinal);
        Assert.Equal(allowed.Version.Version, (await registry.CampaignsAsync()).Single(c => c.Name == Campaigns.SimilarItems).OwnVersion);
        Assert.Single((await services.GetRequiredService<AuditLog>().ListAsync(action: AuditActions.AutoPromoteRefused)).Rows);
    }

    [Fact]
    public async Task The_share_is_validated_at_start()
    {
        await using var services = TestServices.Create(db.ConnectionString, new Dictionary<string, string?> { ["Verdicts:MaxRejectedShare"] = "1.5" });
        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<VerdictOptions>>().Value);
        Assert.Contains("Verdicts:MaxRejectedShare must be between 0 and 1.", error.Message, StringComparison.Ordinal);
    }
}
