using Recs.Services.Engine;

namespace Recs.Tests.Unit;

public sealed class RegionPopularityContractTests : RecommenderContractTests
{
    protected override Recommender Create() => new GroupPopularityRecommender(GroupPopularityRecommender.RegionName);
}

public sealed class CategoryPopularityContractTests : RecommenderContractTests
{
    protected override Recommender Create() => new GroupPopularityRecommender(GroupPopularityRecommender.CategoryName);
}

/// <summary>The group baselines on data where the right answer is known.</summary>
public sealed class GroupPopularityTests
{
    [Fact]
    public void Region_popularity_recommends_what_the_users_own_region_has()
    {
        // Users 0–2 in North all have item 0; users 3–6 in South have item 1 (more popular overall). User 2 (North) lacks
        // nothing of the North's, so test with user 7 (North, only item 2) and user 8 (South, only item 2).
        var m = CsrMatrix.FromTriples(9, 3, [0, 1, 2, 3, 4, 5, 6, 7, 8], [0, 0, 0, 1, 1, 1, 1, 2, 2], Enumerable.Repeat(1f, 9).ToArray());
        var (regions, names) = SideFeatures.OneHot(9, ("region", ["North", "North", "North", "South", "South", "South", "South", "North", "South"]));
        var features = SideFeatures.None(9, 3) with { UserFeatures = regions, UserFeatureNames = names };
        var model = new GroupPopularityRecommender(GroupPopularityRecommender.RegionName);
        model.Fit(m, new FitOptions { Features = features });
        var top = new int[1];

        model.Recommend(7, m.RowColumns(7), top, new float[1]);
        Assert.Equal(0, top[0]);
        model.Recommend(8, m.RowColumns(8), top, new float[1]);
        Assert.Equal(1, top[0]);
    }

    [Fact]
    public void Category_popularity_recommends_the_best_sellers_of_the_categories_the_user_buys_most()
    {
        // Items 0–2 are Garden, 3–5 Toys. Toys sell more overall (item 3 is the best seller), but user 0 buys Garden.
        var users = new List<int> { 0, 0, 0 };
        var items = new List<int> { 0, 1, 3 };
        for (var u = 1; u < 8; u++) { users.Add(u); items.Add(3); }
        for (var u = 1; u < 4; u++) { users.Add(u); items.Add(2); }
        var m = CsrMatrix.FromTriples(8, 6, users.ToArray(), items.ToArray(), Enumerable.Repeat(1f, users.Count).ToArray());
        var (categories, names) = SideFeatures.OneHot(6, ("category", ["Garden", "Garden", "Garden", "Toys", "Toys", "Toys"]));
        var features = SideFeatures.None(8, 6) with { ItemFeatures = categories, ItemFeatureNames = names };
        var model = new GroupPopularityRecommender(GroupPopularityRecommender.CategoryName);
        model.Fit(m, new FitOptions { Features = features });
        var top = new int[2];
        var scores = new float[2];

        model.Recommend(0, m.RowColumns(0), top, scores);

        // Garden is 2/3 of user 0's history: item 2 (Garden's best seller they lack) first, then Toys' next best (4 or 5).
        Assert.Equal(2, top[0]);
        Assert.Equal(2f / 3, scores[0], 3);
        Assert.InRange(top[1], 4, 5);
    }
}
