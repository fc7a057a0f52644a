using Recs.Services.Data;

namespace Recs.Tests.Integration;

/// <summary>One embedded PostgreSQL cluster for the whole test run, in a temporary folder, stopped at exit.</summary>
public static class TestCluster
{
    private static readonly Lazy<Task<EmbeddedPostgres>> Cluster = new(StartAsync);

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
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        };
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
        // Registered after the folder's clean-up, so it runs first: stop the server, then delete its folder.
        AppDomain.CurrentDomain.ProcessExit += (_, _) => cluster.StopAsync().GetAwaiter().GetResult();
        return cluster;
    }
}
