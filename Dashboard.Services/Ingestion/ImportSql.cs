using Dapper;
using Npgsql;

namespace Recs.Services.Ingestion;

/// <summary>What both importers do inside their transaction.</summary>
internal static class ImportSql
{
    /// <summary>One import at a time across every instance sharing the database.</summary>
    public const long LockKey = 7_265_110_003;

    public static CommandDefinition Command(string sql, NpgsqlTransaction transaction, CancellationToken cancellationToken, object? parameters = null) =>
        new(sql, parameters, transaction, commandTimeout: 0, cancellationToken: cancellationToken);

    public static Task<int> ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken) =>
        connection.ExecuteAsync(Command(sql, transaction, cancellationToken));

    /// <summary>Runs an upsert that returns (inserted, updated) counts.</summary>
    public static Task<(long Inserted, long Updated)> UpsertAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken) =>
        connection.QuerySingleAsync<(long, long)>(Command(sql, transaction, cancellationToken));

    /// <summary>
    /// Takes the import lock and, when the role may (a superuser, as on the embedded server), turns off the per-row
    /// foreign-key triggers for this transaction: every row the importers insert is joined to its parent rows in the
    /// same statement, so the checks cannot fail, and they cost more than the inserts themselves (about half of an
    /// Online Retail import). With a role that may not, the checks stay and the import is slower.
    /// </summary>
    public static async Task BeginAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        await connection.ExecuteAsync(Command("select pg_advisory_xact_lock(@key)", transaction, cancellationToken, new { key = LockKey }));
        if (await connection.ExecuteScalarAsync<bool>(Command("select rolsuper from pg_roles where rolname = current_user", transaction, cancellationToken)))
            await connection.ExecuteAsync(Command("set local session_replication_role = replica", transaction, cancellationToken));
    }

    /// <summary>Drops the foreign keys and non-unique indexes of the tables; returns the statements that restore them.</summary>
    public static async Task<List<string>> DropForBulkLoadAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string[] tables, bool foreignKeysToo = true)
    {
        const string foreignKeys = """
            select conrelid::regclass::text as table_name, conname as name, pg_get_constraintdef(oid) as definition
            from pg_constraint where contype = 'f' and conrelid::regclass::text = any(@tables)
            """;
        const string indexes = """
            select i.indexrelid::regclass::text as name, pg_get_indexdef(i.indexrelid) as definition
            from pg_index i
            where i.indrelid::regclass::text = any(@tables) and not i.indisunique and not i.indisprimary
            """;
        var restore = new List<string>();
        var keys = foreignKeysToo ? await connection.QueryAsync<(string Table, string Name, string Definition)>(foreignKeys, new { tables }, transaction) : [];
        foreach (var fk in keys)
        {
            await connection.ExecuteAsync($"alter table {fk.Table} drop constraint \"{fk.Name}\"", transaction: transaction);
            restore.Add($"alter table {fk.Table} add constraint \"{fk.Name}\" {fk.Definition}");
        }
        foreach (var index in await connection.QueryAsync<(string Name, string Definition)>(indexes, new { tables }, transaction))
        {
            await connection.ExecuteAsync($"drop index {index.Name}", transaction: transaction);
            restore.Insert(0, index.Definition);
        }
        return restore;
    }

    /// <summary>
    /// When an import is about to add more rows than <paramref name="table"/> holds (a first import, say), drops its
    /// non-unique indexes so the rows go in without per-row index upkeep; run the returned statements
    /// before committing to rebuild them (PostgreSQL's own advice for populating a table). A smaller import keeps them:
    /// rebuilding a large table's indexes would cost more than it saves, and the drop locks the table for readers.
    /// </summary>
    public static async Task<List<string>> DropIndexesIfLargeAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string table, long incoming, CancellationToken cancellationToken)
    {
        if (incoming < 50_000)
            return [];
        var existing = await connection.ExecuteScalarAsync<long>(Command($"select count(*) from (select 1 from {table} limit {incoming}) x", transaction, cancellationToken));
        // Indexes only: dropping a foreign key also locks the table it references (products, customers) exclusively,
        // which queues the API's readers behind the import and can deadlock with them (seen in the soak test).
        return existing >= incoming ? [] : await DropForBulkLoadAsync(connection, transaction, [table], foreignKeysToo: false);
    }

    public static async Task RestoreAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, List<string> statements, CancellationToken cancellationToken)
    {
        foreach (var statement in statements)
            await connection.ExecuteAsync(Command(statement, transaction, cancellationToken));
    }
}
