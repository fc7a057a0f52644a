using Recs.Services.Data;

namespace Recs.Tests.Integration;

/// <summary>One embedded PostgreSQL cluster for the whole test run, in a temporary folder, stopped at exit.</summary>
public static class TestCluster
{
    private static readonly Lazy<Task<EmbeddedPostgres>> Cluster = new(StartAsync);
    private static readonly List<string> TempDirectories = [];

    static TestCluster()
    {
        // One handler, in this order: stop the server, then delete the folders (a server whose folder is
        // deleted under it keeps running and cannot be stopped with pg_ctl any more).
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            if (Cluster.IsValueCreated && Cluster.Value.IsCompletedSuccessfully)
                Cluster.Value.Result.StopAsync().GetAwaiter().GetResult();
            lock (TempDirectories)
            {
                foreach (var dir in TempDirectories)
                {
                    try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
                }
            }
        };
    }

    /// <summary>Durability off: a test cluster is thrown away, and fsync is most of the cost of DDL.</summary>
    public static readonly IReadOnlyDictionary<string, string> FastSettings = new Dictionary<string, string>
    {
        ["fsync"] = "off",
        ["synchronous_commit"] = "off",
        ["full_page_writes"] = "off",
        ["shared_buffers"] = "'128MB'",
    };

    public static Task<EmbeddedPostgres> GetAsync() => Cluster.Value;

    /// <summary>A new folder under /tmp that the server's user can reach, removed at exit.</summary>
    public static string NewTempDirectory(string prefix)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"{prefix}-{Environment.ProcessId}-{Guid.NewGuid():N}"[..Math.Min(48, prefix.Length + 30)]);
        Directory.CreateDirectory(dir);
        lock (TempDirectories)
            TempDirectories.Add(dir);
        return dir;
    }

    private static async Task<EmbeddedPostgres> StartAsync()
    {
        var cluster = new EmbeddedPostgres(new EmbeddedPostgresSettings
        {
            DataDirectory = Path.Combine(NewTempDirectory("recs-tests"), "pg"),
            ServerSettings = FastSettings,
        });
        await cluster.StartAsync();
        return cluster;
    }
}
