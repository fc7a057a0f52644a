using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Recs.Services.Data;

/// <summary>Which PostgreSQL the app uses, for the overview page.</summary>
public sealed record DatabaseInfo(bool Embedded, string Location, string? ServerVersion, TimeSpan? StartDuration, bool? CreatedCluster);

/// <summary>
/// The process's one database: the embedded cluster (default) or the server named by
/// <c>ConnectionStrings:Recs</c>. Owns the single <see cref="NpgsqlDataSource"/>.
/// </summary>
public sealed class RecsDatabase : IAsyncDisposable
{
    private readonly ILogger<RecsDatabase> _logger;
    private readonly EmbeddedPostgres? _embedded;
    private readonly Lazy<NpgsqlDataSource> _dataSource;
    private string? _serverVersion;

    public RecsDatabase(IOptions<DatabaseOptions> options, IConfiguration configuration, ILogger<RecsDatabase> logger)
    {
        _logger = logger;
        var external = configuration.GetConnectionString("Recs");
        if (string.IsNullOrWhiteSpace(external))
        {
            var o = options.Value;
            _embedded = new EmbeddedPostgres(new EmbeddedPostgresSettings
            {
                DataDirectory = o.ResolveDataDirectory(),
                BinDirectory = o.BinDirectory,
                Port = o.Port,
                Database = o.Name,
                StartTimeout = TimeSpan.FromSeconds(o.StartTimeoutSeconds),
                ServerSettings = o.ServerSettings,
            }, logger);
            ConnectionString = _embedded.ConnectionString();
        }
        else
        {
            try
            {
                ConnectionString = new NpgsqlConnectionStringBuilder(external).ConnectionString;
            }
            catch (ArgumentException e)
            {
                throw new DatabaseStartupException($"ConnectionStrings:Recs is not a valid PostgreSQL connection string: {e.Message}", e);
            }
        }
        _dataSource = new Lazy<NpgsqlDataSource>(() => NpgsqlDataSource.Create(WithAutoPrepare(ConnectionString)));
    }

    /// <summary>
    /// Statements the app runs again and again (the API's lookups) are prepared on the server after their second use,
    /// so PostgreSQL plans them once per connection rather than per request (planning was most of an API call's
    /// time). A connection string that sets Max Auto Prepare itself keeps its value.
    /// </summary>
    public static string WithAutoPrepare(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        if (!connectionString.Contains("Auto Prepare", StringComparison.OrdinalIgnoreCase))
        {
            builder.MaxAutoPrepare = 64;
            builder.AutoPrepareMinUsages = 2;
        }
        return builder.ConnectionString;
    }

    public bool IsEmbedded => _embedded is not null;

    public string ConnectionString { get; }

    public NpgsqlDataSource DataSource => _dataSource.Value;

    public DatabaseInfo Describe()
    {
        if (_embedded is not null)
            return new DatabaseInfo(true, _embedded.DataDirectory, _embedded.ServerVersion, _embedded.StartDuration, _embedded.CreatedCluster);
        var b = new NpgsqlConnectionStringBuilder(ConnectionString);
        return new DatabaseInfo(false, $"{b.Host}:{b.Port}/{b.Database}", _serverVersion, null, null);
    }

    /// <summary>Starts the embedded cluster when there is one, checks the connection and applies migrations.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (_embedded is not null)
            await _embedded.StartAsync(cancellationToken);
        else
            await CheckExternalAsync(cancellationToken);

        var applied = await Migrator.ApplyAsync(ConnectionString, _logger, cancellationToken);
        if (applied.Count > 0)
            _logger.LogInformation("Applied {Count} migration(s): {Scripts}", applied.Count, string.Join(", ", applied));
    }

    public async Task StopAsync()
    {
        if (_dataSource.IsValueCreated)
            await _dataSource.Value.DisposeAsync();
        if (_embedded is not null)
            await _embedded.StopAsync();
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    /// <summary>Restarts the embedded server if it died; drops the pool's dead connections when it did.</summary>
    public async Task<bool> RestartIfDeadAsync(CancellationToken cancellationToken = default)
    {
        if (_embedded is null || !await _embedded.RestartIfDeadAsync(cancellationToken))
            return false;
        if (_dataSource.IsValueCreated)
            _dataSource.Value.Clear();
        return true;
    }

    private async Task CheckExternalAsync(CancellationToken cancellationToken)
    {
        var builder = new NpgsqlConnectionStringBuilder(ConnectionString);
        try
        {
            await using var connection = new NpgsqlConnection(ConnectionString);
            await connection.OpenAsync(cancellationToken);
            _serverVersion = connection.PostgreSqlVersion.ToString();
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InvalidCatalogName)
        {
            throw new DatabaseStartupException(
                $"The database '{builder.Database}' does not exist on the server named by ConnectionStrings:Recs ({builder.Host}:{builder.Port}). " +
                $"Create it (createdb {builder.Database}) or name an existing one.", e);
        }
        catch (Exception e) when (e is NpgsqlException or System.Net.Sockets.SocketException or TimeoutException)
        {
            throw new DatabaseStartupException(
                $"Cannot connect to the PostgreSQL server named by ConnectionStrings:Recs ({builder.Host}:{builder.Port}, database '{builder.Database}', user '{builder.Username}'): {e.Message}. " +
                "Check that the server runs and the connection string is right, or remove ConnectionStrings:Recs to use the embedded server.", e);
        }
    }
}
