using Npgsql;
using Recs.Services.Engine;

namespace Recs.Services.Models;

/// <summary>
/// Top-N lists for many users of one model, as batch inference writes them into the cache: factor models score in
/// blocks with the SIMD kernel, the others one user at a time, both across cores, seen items left out when the model
/// says so. Batch inference and the version comparison share it, so a compared list is the list that would be served.
/// </summary>
public sealed class TopNLists
{
    /// <summary>Receives user <paramref name="index"/>'s list (an index into the users asked for); called from several threads at once.</summary>
    public delegate void Sink(int index, ReadOnlySpan<int> items, ReadOnlySpan<float> scores);

    private const int Slice = 96;

    private readonly Recommender _model;
    private readonly FactorScorer? _scorer;

    public TopNLists(Recommender model)
    {
        _model = model;
        _scorer = model is IFactorModel factors ? new FactorScorer(factors) : null;
    }

    /// <summary>Each user's top <paramref name="topN"/> (model indices), their rows of <paramref name="seen"/> left out, handed to <paramref name="sink"/>.</summary>
    public void Compute(int[] users, CsrMatrix seen, int topN, Sink sink, CancellationToken cancellationToken = default)
    {
        var parallel = new ParallelOptions { CancellationToken = cancellationToken };
        if (_scorer is { } scorer)
        {
            // Slices of 96 users keep the blocked kernel busy; each slice is one parallel task.
            var excludeSeen = _model.ExcludeSeen;
            Parallel.For(0, (users.Length + Slice - 1) / Slice, parallel, s =>
            {
                var block = users.AsSpan(s * Slice, Math.Min(Slice, users.Length - s * Slice)).ToArray();
                var items = block.Select(_ => new int[topN]).ToArray();
                var scores = block.Select(_ => new float[topN]).ToArray();
                var counts = scorer.TopK(block, excludeSeen ? u => SeenRow(seen, u) : null, topN, items, scores);
                for (var k = 0; k < block.Length; k++)
                    sink(s * Slice + k, items[k].AsSpan(0, counts[k]), scores[k].AsSpan(0, counts[k]));
            });
            return;
        }
        Parallel.For(0, users.Length, parallel, () => (Items: new int[topN], Scores: new float[topN]), (k, _, b) =>
        {
            var n = _model.Recommend(users[k], seen.RowColumns(users[k]), b.Items, b.Scores);
            sink(k, b.Items.AsSpan(0, n), b.Scores.AsSpan(0, n));
            return b;
        }, _ => { });
    }

    private static ReadOnlyMemory<int> SeenRow(CsrMatrix m, int u) => m.ColumnIndex.AsMemory(m.RowStart[u], m.RowLength(u));

    /// <summary>
    /// Each model user's items from the current interactions of the given event types (what "already bought" means at
    /// serving time), over the artifact's indices; <paramref name="onlyUsers"/> reads just those users' rows.
    /// </summary>
    public static async Task<CsrMatrix> SeenAsync(NpgsqlDataSource dataSource, ModelArtifact artifact, string[] eventTypes, long[]? onlyUsers,
        CancellationToken cancellationToken) =>
        Seen(artifact, await ReadSeenAsync(dataSource, eventTypes, onlyUsers, cancellationToken));

    /// <summary>(user id, item id) of every interaction of the given types (of <paramref name="onlyUsers"/> when given), in database ids.</summary>
    public static async Task<(long[] Users, long[] Items)> ReadSeenAsync(NpgsqlDataSource dataSource, string[] eventTypes, long[]? onlyUsers,
        CancellationToken cancellationToken)
    {
        var users = new List<long>();
        var items = new List<long>();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var sql = onlyUsers is null
            ? "select user_id, item_id from interactions where event_type = any(@types)"
            : "select user_id, item_id from interactions where event_type = any(@types) and user_id = any(@users)";
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        command.Parameters.AddWithValue("types", eventTypes);
        if (onlyUsers is not null)
            command.Parameters.AddWithValue("users", onlyUsers);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            users.Add(reader.GetInt64(0));
            items.Add(reader.GetInt64(1));
        }
        return (users.ToArray(), items.ToArray());
    }

    /// <summary>The pairs as a user × item matrix over the artifact's indices (pairs it does not know are left out).</summary>
    public static CsrMatrix Seen(ModelArtifact artifact, (long[] Users, long[] Items) pairs)
    {
        var userIndex = new Dictionary<long, int>(artifact.UserIds.Length);
        for (var u = 0; u < artifact.UserIds.Length; u++) userIndex[artifact.UserIds[u]] = u;
        var itemIndex = new Dictionary<long, int>(artifact.ItemIds.Length);
        for (var i = 0; i < artifact.ItemIds.Length; i++) itemIndex[artifact.ItemIds[i]] = i;
        var users = new List<int>();
        var items = new List<int>();
        for (var k = 0; k < pairs.Users.Length; k++)
        {
            if (userIndex.TryGetValue(pairs.Users[k], out var u) && itemIndex.TryGetValue(pairs.Items[k], out var i))
            {
                users.Add(u);
                items.Add(i);
            }
        }
        return CsrMatrix.FromTriples(artifact.UserIds.Length, artifact.ItemIds.Length, users.ToArray(), items.ToArray(), Enumerable.Repeat(1f, users.Count).ToArray());
    }
}
