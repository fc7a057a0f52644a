using System.ComponentModel.DataAnnotations;
using System.Globalization;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using Recs.Services.Models;
using Recs.Services.Serving;

namespace Recs.Services.Verdicts;

/// <summary>The <c>Verdicts</c> configuration section.</summary>
public sealed class VerdictOptions
{
    public const string Section = "Verdicts";

    /// <summary>
    /// Automatic promotion refuses a candidate that still recommends more than this share of the pairs analysts said do
    /// not make sense (only when there are such pairs). A promotion by hand shows the figures and lets a person decide.
    /// </summary>
    [Range(0.0, 1.0, ErrorMessage = "Verdicts:MaxRejectedShare must be between 0 and 1.")]
    public double MaxRejectedShare { get; set; } = 0.2;
}

/// <summary>
/// One (customer or product, item) pair with a verdict, replayed against a candidate: whether the candidate's top
/// <see cref="VerdictReplay.TopN"/> for that customer (or of that product's similar items) holds the item, and where.
/// A pair two analysts judged alike counts once; a pair they judged differently counts once under each verdict.
/// </summary>
public sealed record ReplayedPair(
    string Kind, long SubjectId, string SubjectName, long ItemId, string ItemName, string Verdict, IReadOnlyList<string> Accounts, int? Rank)
{
    public bool Recommended => Rank is not null;

    /// <summary>A pair the verdict and the candidate disagree on: a rejected one it still recommends, an approved one it dropped.</summary>
    public bool Disagrees => Verdict == VerdictValues.DoesNotMakeSense ? Recommended : !Recommended;
}

/// <summary>What a candidate does with the analysts' verdicts.</summary>
public sealed record ReplayResult(string Version, IReadOnlyList<ReplayedPair> Pairs)
{
    /// <summary>Pairs analysts said do not make sense.</summary>
    public int Rejected => Pairs.Count(p => p.Verdict == VerdictValues.DoesNotMakeSense);

    /// <summary>Of those, how many the candidate still recommends.</summary>
    public int RejectedKept => Pairs.Count(p => p.Verdict == VerdictValues.DoesNotMakeSense && p.Recommended);

    /// <summary>Pairs analysts said make sense.</summary>
    public int Approved => Pairs.Count(p => p.Verdict == VerdictValues.MakesSense);

    /// <summary>Of those, how many the candidate no longer recommends.</summary>
    public int ApprovedDropped => Pairs.Count(p => p.Verdict == VerdictValues.MakesSense && !p.Recommended);

    /// <summary>The share of rejected pairs the candidate brings back (0 when there are none).</summary>
    public double RejectedShare => Rejected == 0 ? 0 : RejectedKept / (double)Rejected;

    public string Describe() => Pairs.Count == 0
        ? "no verdicts to replay"
        : string.Create(CultureInfo.InvariantCulture,
            $"still recommends {RejectedKept} of {Rejected} pairs analysts said don't make sense; drops {ApprovedDropped} of {Approved} pairs they said make sense");
}

/// <summary>
/// Replays every verdict against a candidate version before it is promoted: a customer's pair against the candidate's
/// top 10 for them (their seen items left out, as serving does, through <see cref="ServedLists"/>), a product's pair
/// against the candidate's 10 most similar items of that product.
/// </summary>
public sealed class VerdictReplay(NpgsqlDataSource dataSource, ModelStore models, VerdictService verdicts, IOptions<TrainingOptions> training)
{
    /// <summary>How deep the replay looks: the first screen of recommendations.</summary>
    public const int TopN = 10;

    /// <summary>
    /// The replay against <paramref name="version"/> of every stored verdict that bears on <paramref name="campaign"/>
    /// (when given): product verdicts for the similar-items campaign, customer verdicts for the others, since a
    /// promotion changes only what that campaign serves. Throws <see cref="KeyNotFoundException"/> when it has no trained model.
    /// </summary>
    public async Task<ReplayResult> ReplayAsync(string version, string? campaign = null, CancellationToken cancellationToken = default)
    {
        var all = (await verdicts.AllAsync(cancellationToken)).Where(v => campaign is null || v.Kind == KindFor(campaign)).ToList();
        if (all.Count == 0)
            return new ReplayResult(version, []);
        var model = await models.GetAsync(version, cancellationToken)
            ?? throw new KeyNotFoundException($"Version {version} has no trained model to replay the verdicts against.");

        var users = all.Where(v => v.Kind == VerdictKinds.User).Select(v => v.SubjectId).Distinct().ToArray();
        var histories = new Dictionary<long, List<(long Item, string Type, int Count)>>();
        if (users.Length > 0)
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            var rows = await connection.QueryAsync<(long User, long Item, string Type, int Count)>(new CommandDefinition(
                "select user_id, item_id, event_type, count(*)::int from interactions where user_id = any(@users) group by 1, 2, 3 order by 1, max(occurred_at), 2, 3",
                new { users }, cancellationToken: cancellationToken));
            foreach (var r in rows)
                (histories.TryGetValue(r.User, out var list) ? list : histories[r.User] = []).Add((r.Item, r.Type, r.Count));
        }

        var lists = new Dictionary<(string Kind, long Subject), long[]>();
        var items = new int[TopN];
        var scores = new float[TopN];
        foreach (var subject in all.Select(v => (v.Kind, v.SubjectId)).Distinct())
        {
            int n;
            if (subject.Kind == VerdictKinds.User)
            {
                var (seen, weights) = UserHistory.Weighted(model, histories.GetValueOrDefault(subject.SubjectId) ?? [], training.Value.EventWeights);
                n = ServedLists.ForUser(model, subject.SubjectId, seen, weights, items, scores);
            }
            else
            {
                n = ServedLists.Similar(model, subject.SubjectId, items, scores);
            }
            lists[subject] = items.Take(n).Select(i => model.Artifact.ItemIds[i]).ToArray();
        }

        var pairs = all.GroupBy(v => (v.Kind, v.SubjectId, v.ItemId, v.Verdict))
            .Select(g =>
            {
                var first = g.First();
                var rank = Array.IndexOf(lists[(first.Kind, first.SubjectId)], first.ItemId);
                return new ReplayedPair(first.Kind, first.SubjectId, first.SubjectName, first.ItemId, first.ItemName, first.Verdict,
                    g.Select(v => v.Account).Distinct().Order(StringComparer.Ordinal).ToList(), rank < 0 ? null : rank + 1);
            })
            // The disagreements first: they are what a person deciding on the promotion needs to read.
            .OrderByDescending(p => p.Disagrees).ThenBy(p => p.Verdict).ThenBy(p => p.Kind).ThenBy(p => p.SubjectId).ThenBy(p => p.ItemId)
            .ToList();
        return new ReplayResult(version, pairs);
    }

    /// <summary>The kind of verdict a campaign's promotion is judged by.</summary>
    public static string KindFor(string campaign) => campaign == Campaigns.SimilarItems ? VerdictKinds.Product : VerdictKinds.User;
}
