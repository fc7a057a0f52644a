using Microsoft.Extensions.Options;
using Recs.Services.Models;
using Recs.Services.Remote;

namespace Recs.Services.Serving;

/// <summary>
/// Personalized ranking by the campaign's remote AWS Personalize campaign (Engine:Remote:personalized-ranking): the
/// ranking needs the caller's list, so it cannot be fetched ahead into a cache and is asked live, within the campaign's
/// TimeoutSeconds and with at most one retry (a caller is waiting). A remote failure is a 502 (refused: credentials,
/// ARN, input) or a 503 (unavailable, timed out) with the remote's reason, never a 500.
/// </summary>
public sealed class RemoteRanking(IHttpClientFactory httpFactory, IOptions<EngineOptions> engine, TimeProvider time)
{
    /// <summary>Retries of a live request at most, whatever MaxRetries says for batch fetches.</summary>
    public const int LiveRetries = 1;

    /// <summary>The remote campaign that ranks for personalized-ranking, or null when Recs' own model does.</summary>
    public RemoteCampaignOptions? Remote => engine.Value.For(Campaigns.PersonalizedRanking);

    /// <summary>
    /// <paramref name="candidates"/> (distinct, known products) in the remote campaign's order, stamped with its ARN. Items
    /// it leaves out keep their given order after the ones it ranked; items it adds that were not asked for are ignored.
    /// </summary>
    public async Task<RankedItems> RankAsync(string userId, IReadOnlyList<(long Id, string ExternalId, string Name, string? Category)> candidates, CancellationToken cancellationToken)
    {
        var remote = Remote ?? throw new InvalidOperationException("The personalized-ranking campaign has no remote engine.");
        var live = remote.ForLiveRequests(LiveRetries);
        var client = new PersonalizeRuntimeClient(httpFactory.CreateClient(PersonalizeRuntimeClient.HttpClientName), live, Campaigns.PersonalizedRanking, time);
        PersonalizeAnswer answer;
        try
        {
            answer = await client.GetPersonalizedRankingAsync(userId, candidates.Select(c => c.ExternalId).ToList(), cancellationToken: cancellationToken);
        }
        catch (PersonalizeException e)
        {
            throw new ServingException(e.Kind == PersonalizeErrorKind.Unavailable ? 503 : 502,
                $"The personalized-ranking campaign's engine, AWS Personalize {remote.CampaignArn}, did not rank: {e.Message}");
        }
        var byId = candidates.ToDictionary(c => c.ExternalId, StringComparer.Ordinal);
        var ranked = new List<RecommendedItem>(candidates.Count);
        var placed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in answer.Items)
        {
            if (byId.TryGetValue(item.ItemId, out var p) && placed.Add(p.ExternalId))
                ranked.Add(new RecommendedItem(p.ExternalId, item.Score is { } s && double.IsFinite(s) ? Math.Round(s, 6) : null, p.Name, p.Category, "model", p.Id));
        }
        foreach (var p in candidates.Where(c => !placed.Contains(c.ExternalId)))
            ranked.Add(new RecommendedItem(p.ExternalId, null, p.Name, p.Category, "model", p.Id));
        return new RankedItems(userId, remote.CampaignArn, false, null, ranked);
    }
}
