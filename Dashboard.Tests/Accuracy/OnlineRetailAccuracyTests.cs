using Recs.Services.Engine;
using Recs.Services.Ingestion;
using Recs.Tests.E2E;

namespace Recs.Tests.Accuracy;

/// <summary>The accuracy bar on real purchases: ALS must beat popularity by at least 10 % on NDCG@10 and recall@10.</summary>
public sealed class OnlineRetailAccuracyTests
{
    public static string DatasetPath => Path.GetFullPath(Path.Combine(RepoPaths.Root, "..", "shared", "datasets", "online-retail", "online_retail.csv.gz"));

    private static readonly Lazy<OnlineRetailPurchases> Purchases = new(() => OnlineRetailFile.ReadPurchases(DatasetPath));

    [Fact]
    public void Reading_the_file_reconciles_with_the_dataset_readme()
    {
        var counts = Purchases.Value.Counts;

        Assert.Equal(541_909, counts.Rows);
        Assert.Equal(5_268, counts.Duplicates);
        Assert.Equal(counts.Rows, counts.Purchases + counts.Returns + counts.NoCustomer + counts.Duplicates + counts.NonProduct + counts.ZeroOrNegativePrice);
        Assert.InRange(Purchases.Value.Interactions.Set.Users, 4_000, 4_372);
        Assert.InRange(Purchases.Value.Interactions.Set.Items, 3_500, 4_070);
    }

    [Fact]
    public void User_personalization_beats_popularity_by_ten_percent_on_a_temporal_split()
    {
        var result = Experiment.Run(Purchases.Value.Interactions.Set, new ExperimentSpec
        {
            Recipe = AlsRecommender.Descriptor,
            Split = Splits.Temporal,
            TestRatio = 0.2,
            K = 10,
            Seed = 42,
        });

        var model = result.Metrics.Metrics;
        var baseline = result.Baseline.Metrics;
        Assert.True(result.Metrics.TestUsers > 1000, $"only {result.Metrics.TestUsers} test users");
        Assert.True(model["ndcg@10"] >= 1.1 * baseline["ndcg@10"], $"NDCG@10 {model["ndcg@10"]:F4} vs popularity {baseline["ndcg@10"]:F4}");
        Assert.True(model["recall@10"] >= 1.1 * baseline["recall@10"], $"recall@10 {model["recall@10"]:F4} vs popularity {baseline["recall@10"]:F4}");
        Assert.NotEmpty(result.History);
        Assert.NotNull(result.BestEpoch);
    }
}
