using System.Text.Json;
using Dapper;
using Npgsql;

namespace Recs.Services.Audit;

/// <summary>One audited action.</summary>
public sealed record AuditEntry(long Id, DateTime At, string Actor, string Action, string? Target, string Parameters, string? Outcome, DateTime? FinishedAt);

public static class AuditActions
{
    public const string Import = "import";
    public const string Train = "train";
    public const string Promote = "promote";
    public const string Cancel = "cancel";
    public const string Batch = "batch";
    public const string AccountCreate = "account-create";
    public const string AccountRole = "account-role";
    public const string AccountDisable = "account-disable";
    public const string AccountEnable = "account-enable";
    public const string AccountUnlock = "account-unlock";
    public const string AccountLocked = "account-locked";
    public const string PasswordChange = "password-change";
    public const string PasswordReset = "password-reset";
    public const string KeyCreate = "api-key-create";
    public const string KeyRevoke = "api-key-revoke";
    public const string Verdict = "verdict";
    public const string AutoPromoteRefused = "auto-promote-refused";
    public const string ExperimentStart = "experiment-start";
    public const string ExperimentStop = "experiment-stop";
    public const string Simulate = "simulate";

    public static readonly string[] All =
    [
        Import, Train, Promote, Cancel, Batch, AccountCreate, AccountRole, AccountDisable, AccountEnable, AccountUnlock, AccountLocked,
        PasswordChange, PasswordReset, KeyCreate, KeyRevoke, Verdict, AutoPromoteRefused, ExperimentStart, ExperimentStop, Simulate,
    ];
}

/// <summary>
/// The audit log: an action is recorded when it is asked for (who, what, on what, with which parameters) and
/// its outcome is added once when it ends. Rows are never deleted by the app.
/// </summary>
public sealed class AuditLog(NpgsqlDataSource dataSource, TimeProvider time)
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>Records an action; returns its id for <see cref="FinishAsync"/>.</summary>
    public async Task<long> RecordAsync(string actor, string action, string? target, object? parameters = null, string? outcome = null, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var now = time.GetUtcNow().UtcDateTime;
        return await connection.ExecuteScalarAsync<long>(new CommandDefinition("""
            insert into audit_log (at, actor, action, target, parameters, outcome, finished_at)
            values (@now, @actor, @action, @target, @parameters::jsonb, @outcome, case when @outcome::text is null then null else @now end)
            returning id
            """, new { now, actor, action, target, parameters = JsonSerializer.Serialize(parameters ?? new { }, Json), outcome }, cancellationToken: cancellationToken));
    }

    /// <summary>Adds how an action ended ("succeeded: …", "failed: …"). Never throws: auditing must not fail the action.</summary>
    public async Task FinishAsync(long id, string outcome)
    {
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync();
            await connection.ExecuteAsync("update audit_log set outcome = @outcome, finished_at = @now where id = @id and finished_at is null",
                new { id, outcome = outcome.Length > 2000 ? outcome[..2000] : outcome, now = time.GetUtcNow().UtcDateTime });
        }
        catch (NpgsqlException)
        {
            // The database is down: the row keeps "no outcome", which the page shows as such.
        }
    }

    public async Task<(IReadOnlyList<AuditEntry> Rows, long Total)> ListAsync(string? action = null, string? actor = null, int limit = 50, int offset = 0, CancellationToken cancellationToken = default)
    {
        actor = actor?.Replace("\0", "", StringComparison.Ordinal);
        action = action?.Replace("\0", "", StringComparison.Ordinal);
        const string where = "where (@action::text is null or action = @action) and (@actor::text is null or actor ilike '%' || @pattern || '%')";
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var parameters = new { action, actor, pattern = actor is null ? null : Data.SqlText.LikePattern(actor), limit, offset };
        var rows = (await connection.QueryAsync<AuditEntry>(new CommandDefinition($"""
            select id as Id, at as At, actor as Actor, action as Action, target as Target, parameters::text as Parameters, outcome as Outcome, finished_at as FinishedAt
            from audit_log {where} order by id desc limit @limit offset @offset
            """, parameters, cancellationToken: cancellationToken))).ToList();
        var total = await connection.ExecuteScalarAsync<long>(new CommandDefinition($"select count(*) from audit_log {where}", parameters, cancellationToken: cancellationToken));
        return (rows, total);
    }

    /// <summary>Records an action, runs it, and adds its outcome: "succeeded: …", "cancelled" or "failed: …".</summary>
    public async Task<T> AuditAsync<T>(string actor, string action, string? target, object? parameters, Func<Task<T>> run, Func<T, string> describe)
    {
        var id = await RecordAsync(actor, action, target, parameters);
        try
        {
            var result = await run();
            await FinishAsync(id, $"succeeded: {describe(result)}");
            return result;
        }
        catch (OperationCanceledException)
        {
            await FinishAsync(id, "cancelled");
            throw;
        }
        catch (Exception e)
        {
            await FinishAsync(id, $"failed: {e.Message}");
            throw;
        }
    }
}
