using DbUp;
using DbUp.Engine.Output;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Recs.Services.Data;

/// <summary>Applies the numbered SQL scripts in Data/Migrations that the database has not run yet (DbUp journal).</summary>
public static class Migrator
{
    // Any fixed number: serialises migrations of app instances that start together on one database.
    private const long MigrationLockKey = 7_265_110_001;

    /// <summary>
    /// Runs the pending scripts and returns their names (empty when the schema is current). <paramref name="upTo"/> stops
    /// after the script whose name starts with it (e.g. "0007"): a database as an older version of Recs left it, for tests.
    /// </summary>
    public static async Task<IReadOnlyList<string>> ApplyAsync(string connectionString, ILogger logger, CancellationToken cancellationToken = default, string? upTo = null)
    {
        await using var lockConnection = new NpgsqlConnection(connectionString);
        await lockConnection.OpenAsync(cancellationToken);
        await using (var take = new NpgsqlCommand($"select pg_advisory_lock({MigrationLockKey})", lockConnection))
            await take.ExecuteNonQueryAsync(cancellationToken);
        try
        {
            var engine = DeployChanges.To
                .PostgresqlDatabase(connectionString)
                .WithScriptsEmbeddedInAssembly(typeof(Migrator).Assembly, name => name.Contains(".Data.Migrations.", StringComparison.Ordinal) &&
                    (upTo is null || string.CompareOrdinal(name[(name.IndexOf(".Data.Migrations.", StringComparison.Ordinal) + ".Data.Migrations.".Length)..], upTo + "\uffff") <= 0))
                .WithTransactionPerScript()
                .LogTo(new UpgradeLog(logger))
                .Build();
            var result = engine.PerformUpgrade();
            if (!result.Successful)
                throw new DatabaseStartupException($"Migration {result.ErrorScript?.Name} failed: {result.Error?.Message}", result.Error!);
            return result.Scripts.Select(s => s.Name).ToList();
        }
        finally
        {
            await using var release = new NpgsqlCommand($"select pg_advisory_unlock({MigrationLockKey})", lockConnection);
            await release.ExecuteNonQueryAsync(CancellationToken.None);
        }
    }

    private sealed class UpgradeLog(ILogger logger) : IUpgradeLog
    {
        public void LogTrace(string format, params object[] args) { }
        public void LogDebug(string format, params object[] args) { }
        public void LogInformation(string format, params object[] args) => logger.LogInformation("DbUp: {Message}", string.Format(System.Globalization.CultureInfo.InvariantCulture, format, args));
        public void LogWarning(string format, params object[] args) => logger.LogWarning("DbUp: {Message}", string.Format(System.Globalization.CultureInfo.InvariantCulture, format, args));
        public void LogError(string format, params object[] args) => logger.LogError("DbUp: {Message}", string.Format(System.Globalization.CultureInfo.InvariantCulture, format, args));
        public void LogError(Exception ex, string format, params object[] args) => logger.LogError(ex, "DbUp: {Message}", string.Format(System.Globalization.CultureInfo.InvariantCulture, format, args));
    }
}
