using System.ComponentModel.DataAnnotations;

namespace Recs.Services.Data;

/// <summary>The <c>Database</c> configuration section (the embedded cluster); <c>ConnectionStrings:Recs</c> replaces it.</summary>
public sealed class DatabaseOptions
{
    public const string Section = "Database";

    /// <summary>Folder of the embedded cluster. Default: ~/.local/share/recs/postgres, or /var/lib/recs/postgres as root.</summary>
    public string? DataDirectory { get; set; }

    /// <summary>Folder with initdb, pg_ctl and postgres. Default: the newest /usr/lib/postgresql/*/bin, else PATH.</summary>
    public string? BinDirectory { get; set; }

    /// <summary>Only names the socket file; the embedded server opens no TCP port.</summary>
    [Range(1, 65535, ErrorMessage = "Database:Port must be between 1 and 65535.")]
    public int Port { get; set; } = 5432;

    [Required(AllowEmptyStrings = false, ErrorMessage = "Database:Name must not be empty.")]
    [RegularExpression("^[a-z_][a-z0-9_]{0,62}$", ErrorMessage = "Database:Name must be a lower-case PostgreSQL identifier (letters, digits, underscore).")]
    public string Name { get; set; } = "recs";

    [Range(5, 600, ErrorMessage = "Database:StartTimeoutSeconds must be between 5 and 600.")]
    public int StartTimeoutSeconds { get; set; } = 60;

    /// <summary>Extra server settings for the embedded cluster, e.g. Database:ServerSettings:shared_buffers = '1GB'.</summary>
    public Dictionary<string, string> ServerSettings { get; set; } = [];

    /// <summary>Seconds between the watchdog's checks that the embedded server is alive (0 = no watchdog).</summary>
    [System.ComponentModel.DataAnnotations.Range(0, 3600, ErrorMessage = "Database:WatchdogSeconds must be between 0 (off) and 3600.")]
    public int WatchdogSeconds { get; set; } = 5;

    public string ResolveDataDirectory()
    {
        if (!string.IsNullOrWhiteSpace(DataDirectory))
            return Path.GetFullPath(Environment.ExpandEnvironmentVariables(DataDirectory));
        if (Environment.UserName == "root")
            return "/var/lib/recs/postgres";
        var dataHome = Environment.GetEnvironmentVariable("XDG_DATA_HOME");
        if (string.IsNullOrEmpty(dataHome))
            dataHome = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share");
        return Path.Combine(dataHome, "recs", "postgres");
    }
}
