using Recs.Services.Models;

namespace Recs.Tests.Unit;

/// <summary>The cache tables' list format: what batch inference and the tracker write is what serving reads back.</summary>
public class RecommendationJsonTests
{
    [Fact]
    public void Reads_back_what_it_writes_in_order()
    {
        long[] itemIds = [101, 202, 303, 404];
        var json = RecommendationJson.Write([3, 0, 2], [0.9f, 0.5f, -0.25f], itemIds);

        var read = RecommendationJson.Read(json);

        Assert.Equal([(404L, (double?)0.9f), (101L, 0.5f), (303L, -0.25f)],
            read.Select(r => (r.ProductId, r.Score is { } s ? (double?)(float)s : null)).ToList());
    }

    [Fact]
    public void Reads_remote_lists_with_missing_scores_and_skips_fields_it_does_not_know()
    {
        const string json = """[{"product_id":7,"score":null},{"reason":{"kind":"x","items":[1,2]},"product_id":8},{"score":1.5,"product_id":9,"tags":["a"]}]""";

        var read = RecommendationJson.Read(json);

        Assert.Equal([(7L, (double?)null), (8L, null), (9L, 1.5)], read);
    }

    [Fact]
    public void An_empty_list_reads_as_empty()
    {
        Assert.Empty(RecommendationJson.Read("[]"));
    }
}
