using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Recs.Services.Data;

/// <summary>Settings of a private PostgreSQL cluster that Recs creates and runs itself.</summary>
public sealed record EmbeddedPostgresSettings
{
    /// <summary>The cluster's data folder; also holds the Unix socket and the server log.</summary>
    public required string DataDirectory { get; init; }

    /// <summary>Folder with initdb, pg_ctl and postgres; found automatically when null.</summary>
    public string? BinDirectory { get; init; }

    /// <summary>Names the socket file (.s.PGSQL.{Port}); no TCP port is opened.</summary>
    public int Port { get; init; } = 5432;

    public string Database { get; init; } = "recs";

    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Extra server settings (name → value) written to the cluster's recs.conf at every start.</summary>
    public IReadOnlyDictionary<string, string> ServerSettings { get; init; } = new Dictionary<string, string>();
}

/// <summary>
/// Creates (first run), starts and stops a private PostgreSQL cluster from the server binaries on the
/// machine: Unix socket only, trust authentication on a socket only its owner can reach. Run as root,
/// the server runs as the <c>postgres</c> system user because PostgreSQL refuses to run as root.
/// </summary>
public sealed class EmbeddedPostgres : IAsyncDisposable
{
    public const string SuperUser = "recs";
    private const string ServiceUser = "postgres";

    private readonly EmbeddedPostgresSettings _settings;
    private readonly ILogger _logger;
    private string? _binDirectory;
    private bool _startedByUs;

    public EmbeddedPostgres(EmbeddedPostgresSettings settings, ILogger? logger = null)
    {
        _settings = settings;
        _logger = logger ?? NullLogger.Instance;
        DataDirectory = Path.GetFullPath(settings.DataDirectory);
    }

    public string DataDirectory { get; }

    public string LogFile => Path.Combine(DataDirectory, "postgres.log");

    /// <summary>True when the last start had to create the cluster with initdb.</summary>
    public bool CreatedCluster { get; private set; }

    /// <summary>Wall time of the last <see cref="StartAsync"/>.</summary>
    public TimeSpan StartDuration { get; private set; }

    /// <summary>The PostgreSQL major version of the binaries in use.</summary>
    public string? ServerVersion { get; private set; }

    public string ConnectionString(string? database = null) =>
        $"Host={DataDirectory};Port={_settings.Port};Username={SuperUser};Database={database ?? _settings.Database}";

    private static bool RunningAsRoot => Environment.UserName == "root";

    /// <summary>
    /// Creates the cluster if the folder holds none, recovers a stale postmaster.pid or adopts a server
    /// left running by an earlier process, starts the server and creates the database.
    /// Throws <see cref="DatabaseStartupException"/> with a message that says what to install or set.
    /// </summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        _binDirectory = FindBinaries(_settings.BinDirectory);
        ServerVersion = await ReadBinaryVersionAsync(cancellationToken);
        await PrepareDataDirectoryAsync(cancellationToken);

        CreatedCluster = false;
        if (!File.Exists(Path.Combine(DataDirectory, "PG_VERSION")))
        {
            await InitDbAsync(cancellationToken);
            CreatedCluster = true;
        }
        else
        {
            CheckClusterVersion();
        }

        await WriteServerSettingsAsync(cancellationToken);

        if (await IsServerRunningAsync(cancellationToken))
        {
            if (LiveOwner() is { } owner)
            {
                // Another Recs process (the dashboard, say, while this is a command) runs the server: share it, and
                // leave it running on exit.
                _logger.LogInformation("Using the PostgreSQL server that Recs process {Pid} runs in {DataDirectory}; it keeps running after this process", owner, DataDirectory);
                _startedByUs = false;
            }
            else
            {
                _logger.LogWarning("Adopting the PostgreSQL server left running in {DataDirectory} by an earlier process", DataDirectory);
                _startedByUs = true;
                WriteOwner();
            }
        }
        else
        {
            RemoveStaleLockFiles();
            await StartServerAsync(cancellationToken);
            _startedByUs = true;
            WriteOwner();
        }

        await EnsureDatabaseAsync(_settings.Database, cancellationToken);
        StartDuration = clock.Elapsed;
        _logger.LogInformation("Embedded PostgreSQL {Version} ready in {Seconds:F2} s ({Kind}) at {DataDirectory}",
            ServerVersion, StartDuration.TotalSeconds, CreatedCluster ? "new cluster" : "existing cluster", DataDirectory);
    }

    /// <summary>Stops the server (fast shutdown: open sessions are rolled back).</summary>
    public async Task StopAsync()
    {
        if (!_startedByUs || _binDirectory is null)
            return;
        var result = await RunPgToolAsync("pg_ctl", ["stop", "-D", DataDirectory, "-m", "fast", "-w", "-t", "60", "-s"], CancellationToken.None);
        if (result.ExitCode != 0 && await IsServerRunningAsync(CancellationToken.None))
            _logger.LogWarning("pg_ctl stop failed: {Error}", result.Output);
        _startedByUs = false;
        File.Delete(OwnerFile);
        _logger.LogInformation("Embedded PostgreSQL stopped");
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    /// <summary>
    /// For the watchdog: when the server this process started is no longer running (killed, crashed, stopped by
    /// hand), starts it again and returns true. A failed start throws; the watchdog tries again at its next tick
    /// (after a crash, orphaned backends can hold the shared memory for a moment).
    /// </summary>
    public async Task<bool> RestartIfDeadAsync(CancellationToken cancellationToken = default)
    {
        if (!_startedByUs || _binDirectory is null)
            return false;
        if (File.Exists(Path.Combine(DataDirectory, "postmaster.pid")) && PidFileNamesLivePostgres())
            return false;
        _logger.LogWarning("Embedded PostgreSQL in {DataDirectory} is not running (it died or was stopped outside Recs): restarting it", DataDirectory);
        var clock = Stopwatch.StartNew();
        RemoveStaleLockFiles();
        await StartServerAsync(cancellationToken);
        _logger.LogWarning("Embedded PostgreSQL restarted in {Seconds:F2} s", clock.Elapsed.TotalSeconds);
        return true;
    }

    /// <summary>Creates the database if it does not exist yet.</summary>
    public async Task EnsureDatabaseAsync(string database, CancellationToken cancellationToken = default)
    {
        await using var connection = new Npgsql.NpgsqlConnection(ConnectionString("postgres") + ";Pooling=false");
        await connection.OpenAsync(cancellationToken);
        await using var exists = new Npgsql.NpgsqlCommand("select 1 from pg_database where datname = $1", connection);
        exists.Parameters.AddWithValue(database);
        if (await exists.ExecuteScalarAsync(cancellationToken) is null)
        {
            await using var create = new Npgsql.NpgsqlCommand($"create database \"{database.Replace("\"", "\"\"", StringComparison.Ordinal)}\"", connection);
            await create.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    /// <summary>Asks pg_ctl whether a server runs on this data folder.</summary>
    public async Task<bool> IsServerRunningAsync(CancellationToken cancellationToken = default)
    {
        if (!File.Exists(Path.Combine(DataDirectory, "postmaster.pid")) || !PidFileNamesLivePostgres())
            return false;
        var status = await RunPgToolAsync("pg_ctl", ["status", "-D", DataDirectory], cancellationToken);
        return status.ExitCode == 0;
    }

    internal static string FindBinaries(string? configured)
    {
        static bool HasAll(string dir) =>
            File.Exists(Path.Combine(dir, "initdb")) && File.Exists(Path.Combine(dir, "pg_ctl")) && File.Exists(Path.Combine(dir, "postgres"));

        if (!string.IsNullOrWhiteSpace(configured))
        {
            if (HasAll(configured))
                return configured;
            throw new DatabaseStartupException(
                $"Database:BinDirectory is set to '{configured}', but that folder does not hold initdb, pg_ctl and postgres. " +
                "Point it at a PostgreSQL server's bin folder (e.g. /usr/lib/postgresql/15/bin), or remove the setting to search automatically.");
        }

        const string debianRoot = "/usr/lib/postgresql";
        if (Directory.Exists(debianRoot))
        {
            var best = Directory.GetDirectories(debianRoot)
                .Select(d => (Dir: Path.Combine(d, "bin"), Version: int.TryParse(Path.GetFileName(d), out var v) ? v : 0))
                .Where(x => HasAll(x.Dir))
                .OrderByDescending(x => x.Version)
                .FirstOrDefault();
            if (best.Dir is not null)
                return best.Dir;
        }

        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            if (HasAll(dir))
                return dir;
        }

        throw new DatabaseStartupException(
            "No PostgreSQL server binaries found (initdb, pg_ctl and postgres, on PATH or under /usr/lib/postgresql/*/bin). " +
            "Install them (Debian/Ubuntu: apt-get install postgresql), set Database:BinDirectory to their folder, " +
            "or set ConnectionStrings:Recs to use an existing PostgreSQL server.");
    }

    private async Task<string> ReadBinaryVersionAsync(CancellationToken cancellationToken)
    {
        var result = await ProcessRunner.RunAsync(Path.Combine(_binDirectory!, "postgres"), ["--version"], null, TimeSpan.FromSeconds(20), cancellationToken);
        // "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
        var parts = result.Output.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return parts.Length >= 3 ? parts[2] : result.Output.Trim();
    }

    private async Task PrepareDataDirectoryAsync(CancellationToken cancellationToken)
    {
        if (RunningAsRoot && !await ProcessRunner.UserExistsAsync(ServiceUser, cancellationToken))
        {
            throw new DatabaseStartupException(
                "Recs runs as root, and PostgreSQL refuses to run as root, so the embedded server runs as the 'postgres' system user, which does not exist here. " +
                "Create it (useradd --system --home-dir /var/lib/postgresql postgres), run Recs as a normal user, or set ConnectionStrings:Recs.");
        }

        try
        {
            Directory.CreateDirectory(DataDirectory);
            if (RunningAsRoot)
            {
                await ProcessRunner.RunCheckedAsync("chown", [$"{ServiceUser}:", DataDirectory], null, cancellationToken);
            }
            if (!OperatingSystem.IsWindows())
                File.SetUnixFileMode(DataDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException or DatabaseStartupException)
        {
            throw new DatabaseStartupException(
                $"The data folder '{DataDirectory}' cannot be created or is not writable ({e.Message}). " +
                "Set Database:DataDirectory to a folder this user can write, or set ConnectionStrings:Recs to use an existing PostgreSQL server.", e);
        }

        var probe = await RunAsServerUserAsync("test", ["-w", DataDirectory, "-a", "-x", DataDirectory], cancellationToken);
        if (probe.ExitCode != 0)
        {
            throw new DatabaseStartupException(
                $"The data folder '{DataDirectory}' is not writable by the {(RunningAsRoot ? "'postgres' user (the server's user when Recs runs as root; every parent folder must be reachable by it)" : "current user")}. " +
                "Set Database:DataDirectory to another folder, or set ConnectionStrings:Recs.");
        }

        if (!File.Exists(Path.Combine(DataDirectory, "PG_VERSION")) && Directory.EnumerateFileSystemEntries(DataDirectory).Any())
        {
            throw new DatabaseStartupException(
                $"The data folder '{DataDirectory}' is not empty and holds no PostgreSQL cluster. " +
                "Set Database:DataDirectory to an empty or new folder.");
        }
    }

    private async Task InitDbAsync(CancellationToken cancellationToken)
    {
        _logger.LogInformation("Creating a PostgreSQL cluster in {DataDirectory}", DataDirectory);
        var result = await RunPgToolAsync("initdb",
            ["-D", DataDirectory, "-U", SuperUser, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-instructions"], cancellationToken);
        if (result.ExitCode != 0)
            throw new DatabaseStartupException($"initdb failed in '{DataDirectory}': {result.Output.Trim()}");

        await File.AppendAllTextAsync(Path.Combine(DataDirectory, "postgresql.conf"),
            "\n# Recs: settings the app manages are in recs.conf, rewritten at every start.\ninclude_if_exists = 'recs.conf'\n", cancellationToken);
    }

    private void CheckClusterVersion()
    {
        var clusterVersion = File.ReadAllText(Path.Combine(DataDirectory, "PG_VERSION")).Trim();
        var binaryMajor = ServerVersion?.Split('.')[0];
        if (binaryMajor is not null && clusterVersion != binaryMajor)
        {
            throw new DatabaseStartupException(
                $"The cluster in '{DataDirectory}' was made by PostgreSQL {clusterVersion}, but the binaries found ({_binDirectory}) are version {binaryMajor}. " +
                $"Set Database:BinDirectory to PostgreSQL {clusterVersion}'s bin folder, or Database:DataDirectory to a new folder.");
        }
    }

    private async Task WriteServerSettingsAsync(CancellationToken cancellationToken)
    {
        var settings = new Dictionary<string, string>
        {
            ["listen_addresses"] = "''",
            ["port"] = _settings.Port.ToString(CultureInfo.InvariantCulture),
            ["unix_socket_directories"] = $"'{DataDirectory.Replace("'", "''", StringComparison.Ordinal)}'",
            ["unix_socket_permissions"] = "0700",
            ["shared_buffers"] = "'256MB'",
            ["max_wal_size"] = "'2GB'",
            ["maintenance_work_mem"] = "'256MB'",
            ["work_mem"] = "'32MB'",
            ["max_connections"] = "100",
            // A query whose client died (a killed import, say) is cancelled within seconds instead of running on,
            // holding its locks, until it next talks to the client.
            ["client_connection_check_interval"] = "'2s'",
        };
        foreach (var (key, value) in _settings.ServerSettings)
            settings[key] = value;
        var path = Path.Combine(DataDirectory, "recs.conf");
        string[] lines = ["# Written by Recs at every start; edit the Database settings instead.", .. settings.Select(kv => $"{kv.Key} = {kv.Value}")];
        await File.WriteAllLinesAsync(path, lines, cancellationToken);
        if (RunningAsRoot)
            await ProcessRunner.RunCheckedAsync("chown", [$"{ServiceUser}:", path], null, cancellationToken);
    }

    /// <summary>True when postmaster.pid names a live process that is a PostgreSQL server (not a reused pid).</summary>
    /// <summary>The Recs process that started (or took over) the running server; it stops it when it exits.</summary>
    private string OwnerFile => Path.Combine(DataDirectory, "recs.owner");

    private void WriteOwner() => File.WriteAllText(OwnerFile, Environment.ProcessId.ToString(CultureInfo.InvariantCulture));

    /// <summary>The pid of another live process that owns the server, or null (no owner file, or its process is gone).</summary>
    private int? LiveOwner()
    {
        try
        {
            if (!File.Exists(OwnerFile) || !int.TryParse(File.ReadAllText(OwnerFile).Trim(), out var pid) || pid == Environment.ProcessId)
                return null;
            // A live process with that pid that is a Recs process (not a stranger that reused the pid).
            var cmdline = Path.Combine("/proc", pid.ToString(CultureInfo.InvariantCulture), "cmdline");
            return File.Exists(cmdline) && File.ReadAllText(cmdline).Contains("Dashboard", StringComparison.Ordinal) ? pid : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private bool PidFileNamesLivePostgres()
    {
        try
        {
            var lines = File.ReadAllLines(Path.Combine(DataDirectory, "postmaster.pid"));
            if (lines.Length == 0 || !int.TryParse(lines[0].Trim(), out var pid))
                return false;
            var comm = Path.Combine("/proc", pid.ToString(CultureInfo.InvariantCulture), "comm");
            return File.Exists(comm) && File.ReadAllText(comm).Trim() is "postgres" or "postmaster";
        }
        catch (IOException)
        {
            return false;
        }
    }

    private void RemoveStaleLockFiles()
    {
        var pidFile = Path.Combine(DataDirectory, "postmaster.pid");
        if (File.Exists(pidFile))
        {
            _logger.LogWarning("Removing a stale postmaster.pid in {DataDirectory}: the process it names is not running", DataDirectory);
            File.Delete(pidFile);
        }
        var socketLock = Path.Combine(DataDirectory, $".s.PGSQL.{_settings.Port}.lock");
        if (File.Exists(socketLock))
            File.Delete(socketLock);
    }

    private async Task StartServerAsync(CancellationToken cancellationToken)
    {
        var timeout = ((int)_settings.StartTimeout.TotalSeconds).ToString(CultureInfo.InvariantCulture);
        var result = await RunPgToolAsync("pg_ctl", ["start", "-D", DataDirectory, "-l", LogFile, "-w", "-t", timeout, "-s"], cancellationToken);
        if (result.ExitCode == 0)
            return;

        var log = ReadLogTail();
        var hint = log.Contains("lock file", StringComparison.OrdinalIgnoreCase) || log.Contains("already in use", StringComparison.OrdinalIgnoreCase)
            ? " Another server holds this socket: set Database:Port to another number, or stop that server."
            : "";
        throw new DatabaseStartupException(
            $"The embedded PostgreSQL server did not start in '{DataDirectory}'.{hint} pg_ctl said: {result.Output.Trim()} Server log ({LogFile}), last lines:\n{log}");
    }

    private string ReadLogTail()
    {
        try
        {
            return File.Exists(LogFile) ? string.Join('\n', File.ReadLines(LogFile).TakeLast(10)) : "(no log)";
        }
        catch (IOException e)
        {
            return $"(log unreadable: {e.Message})";
        }
    }

    private Task<ProcessResult> RunPgToolAsync(string tool, IReadOnlyList<string> args, CancellationToken cancellationToken) =>
        RunAsServerUserAsync(Path.Combine(_binDirectory!, tool), args, cancellationToken);

    private Task<ProcessResult> RunAsServerUserAsync(string file, IReadOnlyList<string> args, CancellationToken cancellationToken)
    {
        var timeout = _settings.StartTimeout + TimeSpan.FromSeconds(30);
        return RunningAsRoot
            ? ProcessRunner.RunAsync(ProcessRunner.Which("runuser") ?? "/usr/sbin/runuser", ["-u", ServiceUser, "--", file, .. args], "/", timeout, cancellationToken)
            : ProcessRunner.RunAsync(file, args, null, timeout, cancellationToken);
    }
}

/// <summary>Start-up failed for a reason the user can fix; the message says how.</summary>
public sealed class DatabaseStartupException : Exception
{
    public DatabaseStartupException(string message) : base(message) { }

    public DatabaseStartupException(string message, Exception inner) : base(message, inner) { }

    public DatabaseStartupException() { }
}
