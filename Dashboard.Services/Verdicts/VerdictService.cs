using System.Globalization;
using System.Text;
using Dapper;
using Npgsql;
using Recs.Services.Audit;
using Recs.Services.Data;

namespace Recs.Services.Verdicts;

/// <summary>What a verdict is about: a recommendation in a customer's list, or a neighbour of a product.</summary>
public static class VerdictKinds
{
    public const string User = "user";
    public const string Product = "product";

    public static readonly string[] All = [User, Product];
}

/// <summary>The two verdicts an analyst can give a shown recommendation.</summary>
public static class VerdictValues
{
    public const string MakesSense = "makes-sense";
    public const string DoesNotMakeSense = "doesnt-make-sense";

    public static readonly string[] All = [MakesSense, DoesNotMakeSense];

    public static string Label(string verdict) => verdict == MakesSense ? "makes sense" : "doesn't make sense";
}

/// <summary>A verdict to record: on <paramref name="ItemId"/> shown for <paramref name="SubjectId"/> (a customer or a product) by <paramref name="ModelVersion"/>.</summary>
public sealed record VerdictInput(string Kind, long SubjectId, long ItemId, string? ModelVersion, string Verdict, string? Note = null);

/// <summary>A stored verdict with the names of what it is about.</summary>
public sealed record VerdictRow(
    long Id, string Account, string Kind, long SubjectId, string SubjectName, long ItemId, string ItemName, string ItemExternalId,
    string? ModelVersion, string Verdict, string? Note, DateTime CreatedAt, DateTime UpdatedAt);

/// <summary>Filters of the Verdicts page and its CSV export; null means "any". Text matches the note and the names and ids of subject and item.</summary>
public sealed record VerdictFilter(string? Verdict = null, string? Account = null, string? Version = null, string? Kind = null, string? Text = null)
{
    /// <summary>Throws <see cref="ArgumentException"/> naming a verdict or kind that does not exist.</summary>
    public VerdictFilter Checked()
    {
        if (Verdict is not null && !VerdictValues.All.Contains(Verdict))
            throw new ArgumentException($"There is no verdict '{Verdict}'; the verdicts are {string.Join(", ", VerdictValues.All)}.");
        if (Kind is not null && !VerdictKinds.All.Contains(Kind))
            throw new ArgumentException($"There is no kind '{Kind}'; the kinds are {string.Join(", ", VerdictKinds.All)}.");
        return this;
    }
}

/// <summary>
/// Analysts' verdicts on recommendations shown on the Users and Similar items pages: recorded (one current verdict per
/// account, subject and item; a second one replaces the first), audited, listed with filters and exported as CSV.
/// </summary>
public sealed class VerdictService(NpgsqlDataSource dataSource, AuditLog audit, TimeProvider time)
{
    public const int MaxNoteLength = 500;

    private const string Select = """
        select v.id as Id, v.account as Account, v.kind as Kind, v.subject_id as SubjectId,
               coalesce(case when v.kind = 'user' then c.external_id else sp.name end, '(removed)') as SubjectName,
               v.item_id as ItemId, p.name as ItemName, p.external_id as ItemExternalId, v.model_version as ModelVersion,
               v.verdict as Verdict, v.note as Note, v.created_at as CreatedAt, v.updated_at as UpdatedAt
        from verdicts v
        join products p on p.id = v.item_id
        left join customers c on v.kind = 'user' and c.id = v.subject_id
        left join products sp on v.kind = 'product' and sp.id = v.subject_id
        """;

    private const string Where = """
        where (@verdict::text is null or v.verdict = @verdict)
          and (@account::text is null or v.account ilike '%' || @accountPattern || '%')
          and (@version::text is null or v.model_version = @version)
          and (@kind::text is null or v.kind = @kind)
          and (@text::text is null or v.note ilike '%' || @textPattern || '%' or p.name ilike '%' || @textPattern || '%'
               or p.external_id ilike @textPattern || '%' or c.external_id ilike @textPattern || '%' or sp.name ilike '%' || @textPattern || '%')
        """;

    /// <summary>
    /// Records (or replaces) <paramref name="account"/>'s verdict on one shown recommendation and audits it. Throws
    /// <see cref="ArgumentException"/> with a message for the user on an unknown kind, verdict, customer, product or
    /// version, or a note longer than <see cref="MaxNoteLength"/> characters.
    /// </summary>
    public async Task<VerdictRow> RecordAsync(string account, VerdictInput input, CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrWhiteSpace(account))
            throw new ArgumentException("A verdict needs a signed-in account.");
        if (!VerdictKinds.All.Contains(input.Kind))
            throw new ArgumentException($"There is no kind '{input.Kind}'; the kinds are {string.Join(", ", VerdictKinds.All)}.");
        if (!VerdictValues.All.Contains(input.Verdict))
            throw new ArgumentException($"There is no verdict '{input.Verdict}'; the verdicts are {string.Join(", ", VerdictValues.All)}.");
        var note = input.Note is null ? null : SqlText.Clean(input.Note);
        if (note is { Length: 0 })
            note = null;
        if (note is { Length: > MaxNoteLength })
            throw new ArgumentException($"The note is {note.Length:N0} characters long; keep it to {MaxNoteLength} or fewer.");
        var version = input.ModelVersion is null ? null : SqlText.Clean(input.ModelVersion);

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var known = await connection.QuerySingleAsync<(bool Subject, bool Item, bool Version)>(new CommandDefinition("""
            select case when @kind = 'user' then exists (select 1 from customers where id = @subject) else exists (select 1 from products where id = @subject) end,
                   exists (select 1 from products where id = @item),
                   @version::text is null or exists (select 1 from model_versions where version = @version)
            """, new { kind = input.Kind, subject = input.SubjectId, item = input.ItemId, version }, cancellationToken: cancellationToken));
        if (!known.Subject)
            throw new ArgumentException(input.Kind == VerdictKinds.User ? $"There is no customer {input.SubjectId}." : $"There is no product {input.SubjectId}.");
        if (!known.Item)
            throw new ArgumentException($"There is no product {input.ItemId} to give a verdict on.");
        if (!known.Version)
            throw new ArgumentException($"There is no model version {version}.");

        var target = $"{input.Kind} {input.SubjectId}, item {input.ItemId}";
        var parameters = new { kind = input.Kind, subject = input.SubjectId, item = input.ItemId, version, verdict = input.Verdict, note };
        return await audit.AuditAsync(account, AuditActions.Verdict, target, parameters, async () =>
        {
            var now = time.GetUtcNow().UtcDateTime;
            var id = await connection.ExecuteScalarAsync<long>(new CommandDefinition("""
                insert into verdicts (account, kind, subject_id, item_id, model_version, verdict, note, created_at, updated_at)
                values (@account, @kind, @subject, @item, @version, @verdict, @note, @now, @now)
                on conflict (account, kind, subject_id, item_id) do update
                set model_version = excluded.model_version, verdict = excluded.verdict, note = excluded.note, updated_at = excluded.updated_at
                returning id
                """, new { account, kind = input.Kind, subject = input.SubjectId, item = input.ItemId, version, verdict = input.Verdict, note, now },
                cancellationToken: cancellationToken));
            return await connection.QuerySingleAsync<VerdictRow>(new CommandDefinition($"{Select} where v.id = @id", new { id }, cancellationToken: cancellationToken));
        }, r => VerdictValues.Label(r.Verdict));
    }

    /// <summary>One account's current verdicts on what is shown for one customer or product, by item.</summary>
    public async Task<IReadOnlyDictionary<long, VerdictRow>> MineAsync(string account, string kind, long subjectId, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<VerdictRow>(new CommandDefinition($"{Select} where v.account = @account and v.kind = @kind and v.subject_id = @subjectId",
            new { account, kind, subjectId }, cancellationToken: cancellationToken));
        return rows.ToDictionary(r => r.ItemId);
    }

    /// <summary>Verdicts matching <paramref name="filter"/>, newest change first, and how many match in all.</summary>
    public async Task<(IReadOnlyList<VerdictRow> Rows, long Total)> ListAsync(VerdictFilter filter, int limit = 50, int offset = 0, CancellationToken cancellationToken = default)
    {
        var parameters = Parameters(filter.Checked());
        parameters.Add("limit", limit);
        parameters.Add("offset", offset);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = (await connection.QueryAsync<VerdictRow>(new CommandDefinition($"{Select} {Where} order by v.updated_at desc, v.id desc limit @limit offset @offset",
            parameters, cancellationToken: cancellationToken))).ToList();
        var total = await connection.ExecuteScalarAsync<long>(new CommandDefinition($"""
            select count(*) from verdicts v join products p on p.id = v.item_id
            left join customers c on v.kind = 'user' and c.id = v.subject_id
            left join products sp on v.kind = 'product' and sp.id = v.subject_id
            {Where}
            """, parameters, cancellationToken: cancellationToken));
        return (rows, total);
    }

    /// <summary>Every verdict (no paging), for the replay: what each account said about each pair.</summary>
    public async Task<IReadOnlyList<VerdictRow>> AllAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return (await connection.QueryAsync<VerdictRow>(new CommandDefinition($"{Select} order by v.id", cancellationToken: cancellationToken))).ToList();
    }

    /// <summary>The version names verdicts were given on, newest first (for the page's filter).</summary>
    public async Task<IReadOnlyList<string>> VersionsAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return (await connection.QueryAsync<string>(new CommandDefinition(
            "select model_version from verdicts where model_version is not null group by 1 order by max(updated_at) desc", cancellationToken: cancellationToken))).ToList();
    }

    /// <summary>The verdicts matching <paramref name="filter"/> as CSV, newest change first.</summary>
    public async Task<string> CsvAsync(VerdictFilter filter, CancellationToken cancellationToken = default)
    {
        var (rows, _) = await ListAsync(filter, int.MaxValue, 0, cancellationToken);
        var csv = new StringBuilder("updated_at,account,kind,subject_id,subject,item_id,item_external_id,item,model_version,verdict,note\n");
        foreach (var r in rows)
        {
            csv.Append(CultureInfo.InvariantCulture,
                $"{r.UpdatedAt:yyyy-MM-ddTHH:mm:ssZ},{Quote(r.Account)},{r.Kind},{r.SubjectId},{Quote(r.SubjectName)},{r.ItemId},{Quote(r.ItemExternalId)},{Quote(r.ItemName)},{Quote(r.ModelVersion ?? "")},{r.Verdict},{Quote(r.Note ?? "")}\n");
        }
        return csv.ToString();
    }

    // Quoted when it holds a separator, quote or line break; text a spreadsheet would run as a formula is led by an apostrophe.
    private static string Quote(string value)
    {
        if (value.Length > 0 && value[0] is '=' or '+' or '-' or '@')
            value = "'" + value;
        return value.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? $"\"{value.Replace("\"", "\"\"", StringComparison.Ordinal)}\"" : value;
    }

    private static DynamicParameters Parameters(VerdictFilter filter)
    {
        var account = Blank(filter.Account);
        var text = Blank(filter.Text);
        var parameters = new DynamicParameters();
        parameters.Add("verdict", filter.Verdict);
        parameters.Add("account", account);
        parameters.Add("accountPattern", account is null ? null : SqlText.LikePattern(account));
        parameters.Add("version", Blank(filter.Version));
        parameters.Add("kind", filter.Kind);
        parameters.Add("text", text);
        parameters.Add("textPattern", text is null ? null : SqlText.LikePattern(text));
        return parameters;
    }

    private static string? Blank(string? value) => value is null || SqlText.Clean(value).Length == 0 ? null : SqlText.Clean(value);
}
