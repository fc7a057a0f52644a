using Recs.Services.Engine;
using Recs.Services.Training;

namespace Recs.Tests.Unit;

/// <summary>hybrid without side features (plain ID embeddings) passes the personalised contract; with them it serves the cold.</summary>
public sealed class HybridContractTests : PersonalisedRecommenderContractTests
{
    protected override Recommender Create() => new HybridRecommender(factors: 8, epochs: 15, learningRate: 0.05f, regularization: 0.001f);

    // The block data plus two items nobody has bought: 20 in block B's category, 21 in block A's. Users' region
    // follows their block; items' category too.
    private static (CsrMatrix Train, SideFeatures Features) BlocksWithAttributes()
    {
        var (blocks, _) = Blocks();
        var users = new List<int>();
        var items = new List<int>();
        for (var u = 0; u < blocks.Rows; u++)
            foreach (var i in blocks.RowColumns(u)) { users.Add(u); items.Add(i); }
        var train = CsrMatrix.FromTriples(40, 22, users.ToArray(), items.ToArray(), Enumerable.Repeat(1f, users.Count).ToArray());
        var (userFeatures, userNames) = SideFeatures.OneHot(40, ("region", Enumerable.Range(0, 40).Select(u => u < 20 ? "A" : "B").ToArray()));
        var (itemFeatures, itemNames) = SideFeatures.OneHot(22, ("category", Enumerable.Range(0, 22).Select(i => i is < 10 or 21 ? "A" : "B").ToArray()));
        return (train, new SideFeatures(userFeatures, itemFeatures, userNames, itemNames));
    }

    [Fact]
    public void A_new_user_with_only_a_region_gets_the_items_of_the_block_the_region_buys_even_after_loading()
    {
        var (train, features) = BlocksWithAttributes();
        var model = new HybridRecommender(factors: 8, epochs: 20, learningRate: 0.05f);
        model.Fit(train, new FitOptions { Seed = 4, Features = features });
        var loaded = (HybridRecommender)Recs.Services.Models.RecipeCatalog.Load(Recs.Services.Models.RecipeCatalog.Save(model, new Dictionary<string, string> { ["factors"] = "8" }));

        // Each region's block, and the new item of the block's category.
        foreach (var (region, block, newItem) in new[] { ("region=A", 0, 21), ("region=B", 10, 20) })
        {
            var feature = Array.IndexOf(features.UserFeatureNames, region);
            var scores = new float[22];
            model.ScoreNewUser([feature], scores);
            var top = new int[10];
            TopK.Select(scores, top, new float[10]);
            Assert.All(top, i => Assert.True(i == newItem || (i >= block && i < block + 10), $"{region} got item {i}"));

            var reloaded = new float[22];
            loaded.ScoreNewUser([feature], reloaded);
            Assert.Equal(scores, reloaded);
        }
    }

    [Fact]
    public void An_item_nobody_has_bought_ranks_by_its_category_for_known_users()
    {
        var (train, features) = BlocksWithAttributes();
        var model = new HybridRecommender(factors: 8, epochs: 20, learningRate: 0.05f);
        model.Fit(train, new FitOptions { Seed = 4, Features = features });
        var scores = new float[22];

        model.Score(30, scores);
        Assert.True(scores[20] > scores[21], $"block-B user: new B item {scores[20]} vs new A item {scores[21]}");
        model.Score(5, scores);
        Assert.True(scores[21] > scores[20], $"block-A user: new A item {scores[21]} vs new B item {scores[20]}");

        var users = new float[40];
        model.ScoreNewItem([Array.IndexOf(features.ItemFeatureNames, "category=B")], users);
        Assert.True(users.Skip(20).Min() > users.Take(20).Max(), "a new category-B item should score higher for every block-B user");
    }

    [Fact]
    public void Features_that_do_not_match_the_matrix_are_refused()
    {
        var (train, features) = BlocksWithAttributes();
        var model = new HybridRecommender(factors: 4, epochs: 1);

        Assert.Throws<ArgumentException>(() => model.Fit(Blocks().Train, new FitOptions { Features = features }));
        model.Fit(train, new FitOptions { Features = features });
    }

    [Fact]
    public void Price_bands_are_quintiles_of_the_known_prices()
    {
        decimal?[] prices = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, null];

        var bands = TrainingDataLoader.PriceBands(prices);

        Assert.Equal("q1 q1 q2 q2 q3 q3 q4 q4 q5 q5 -", string.Join(" ", bands.Select(b => b ?? "-")));
    }
}
