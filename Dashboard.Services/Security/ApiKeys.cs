using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Dapper;
using Npgsql;
using Recs.Services.Audit;

namespace Recs.Services.Security;

public enum ApiKeyScope
{
    /// <summary>Recommendations, similar items, ranking.</summary>
    Read,

    /// <summary>Also the event tracker.</summary>
    Write,
}

public sealed record ApiKey(long Id, string Name, string Prefix, string Scope, DateTime CreatedAt, string CreatedBy, DateTime? RevokedAt, DateTime? LastUsedAt)
{
    public ApiKeyScope KeyScope => Scope == "write" ? ApiKeyScope.Write : ApiKeyScope.Read;
}

/// <summary>A key as created: the only moment its secret exists outside the client.</summary>
public sealed record CreatedApiKey(ApiKey Key, string Secret);

/// <summary>
/// REST API keys, "recs_&lt;prefix&gt;_&lt;secret&gt;": 32 random bytes of secret; only their SHA-256 is stored (a
/// slow hash adds nothing to 256 bits of entropy and would cost every request). A validated key is remembered for
/// <see cref="CacheFor"/> so requests do not each pay a query; revoking through this service forgets it at once,
/// and another instance's revocation takes effect within that time.
/// </summary>
public sealed class ApiKeyService(NpgsqlDataSource dataSource, AuditLog audit, TimeProvider time)
{
    public static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<string, (ApiKey? Key, byte[] Hash, DateTimeOffset Until)> _cache = new(StringComparer.Ordinal);

    private const string Columns = "id as Id, name as Name, prefix as Prefix, scope as Scope, created_at as CreatedAt, created_by as CreatedBy, revoked_at as RevokedAt, last_used_at as LastUsedAt";

    public async Task<IReadOnlyList<ApiKey>> ListAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return (await connection.QueryAsync<ApiKey>(new CommandDefinition($"select {Columns} from api_keys order by revoked_at is not null, id desc", cancellationToken: cancellationToken))).ToList();
    }

    public async Task<CreatedApiKey> CreateAsync(string name, ApiKeyScope scope, string actor, CancellationToken cancellationToken = default)
    {
        name = (name ?? "").Replace("\0", "", StringComparison.Ordinal).Trim();
        if (name.Length is 0 or > 100)
            throw new ArgumentException("Name the key (1 to 100 characters), e.g. after the system that will use it.");
        var prefix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        var secret = $"recs_{prefix}_{Base64Url(RandomNumberGenerator.GetBytes(32))}";
        var scopeName = scope == ApiKeyScope.Write ? "write" : "read";
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var key = await connection.QuerySingleAsync<ApiKey>(new CommandDefinition($"""
            insert into api_keys (name, prefix, secret_hash, scope, created_by) values (@name, @prefix, @hash, @scopeName, @actor)
            returning {Columns}
            """, new { name, prefix, hash = SHA256.HashData(Encoding.UTF8.GetBytes(secret)), scopeName, actor }, cancellationToken: cancellationToken));
        await audit.RecordAsync(actor, AuditActions.KeyCreate, $"{name} ({prefix})", new { scope = scopeName }, "succeeded", CancellationToken.None);
        return new CreatedApiKey(key, secret);
    }

    public async Task RevokeAsync(long id, string actor, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var key = await connection.QuerySingleOrDefaultAsync<ApiKey>(new CommandDefinition(
            $"update api_keys set revoked_at = coalesce(revoked_at, now()) where id = @id returning {Columns}", new { id }, cancellationToken: cancellationToken))
            ?? throw new ArgumentException("This key no longer exists.");
        _cache.TryRemove(key.Prefix, out _);
        await audit.RecordAsync(actor, AuditActions.KeyRevoke, $"{key.Name} ({key.Prefix})", null, "succeeded", CancellationToken.None);
    }

    /// <summary>The live key a presented secret belongs to, or null (unknown, malformed or revoked).</summary>
    public async Task<ApiKey?> ValidateAsync(string? presented, CancellationToken cancellationToken = default)
    {
        if (presented is null || presented.Length is < 20 or > 200 || !presented.StartsWith("recs_", StringComparison.Ordinal))
            return null;
        var end = presented.IndexOf('_', 5);
        if (end != 17)
            return null;
        var prefix = presented[5..end];
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(presented));
        var now = time.GetUtcNow();
        if (!_cache.TryGetValue(prefix, out var entry) || entry.Until < now)
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            var row = await connection.QuerySingleOrDefaultAsync<KeyHash>(new CommandDefinition(
                "select id as Id, secret_hash as Hash from api_keys where prefix = @prefix and revoked_at is null", new { prefix }, cancellationToken: cancellationToken));
            ApiKey? key = null;
            if (row is { } found && CryptographicOperations.FixedTimeEquals(found.Hash, hash))
            {
                key = await connection.QuerySingleAsync<ApiKey>(new CommandDefinition(
                    $"update api_keys set last_used_at = now() where id = @id returning {Columns}", new { id = found.Id }, cancellationToken: cancellationToken));
            }
            entry = (key, row?.Hash ?? [], now + CacheFor);
            if (row is not null)
                _cache[prefix] = entry; // Unknown prefixes are not remembered: random ones must not grow the cache.
        }
        return entry.Key is not null && CryptographicOperations.FixedTimeEquals(entry.Hash, hash) ? entry.Key : null;
    }

    private sealed record KeyHash(long Id, byte[] Hash);

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
