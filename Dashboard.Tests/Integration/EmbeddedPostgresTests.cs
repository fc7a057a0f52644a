using System.Diagnostics;
using Dapper;
using Npgsql;
using Recs.Services.Data;

namespace Recs.Tests.Integration;

/// <summary>The embedded cluster's life cycle, each test on its own cluster folder.</summary>
public sealed class EmbeddedPostgresTests
{
    private static EmbeddedPostgres NewCluster(string? dataDirectory = null, string? binDirectory = null) => new(new EmbeddedPostgresSettings
    {
        DataDirectory = dataDirectory ?? Path.Combine(TestCluster.NewTempDirectory("recs-life"), "pg"),
        BinDirectory = binDirectory,
        ServerSettings = TestCluster.FastSettings,
    });

    private static async Task<int> SelectOneAsync(EmbeddedPostgres cluster)
    {
        await using var connection = new NpgsqlConnection(cluster.ConnectionString() + ";Pooling=false");
        return await connection.ExecuteScalarAsync<int>("select 1");
    }

    [Fact]
    public async Task Starts_serves_stops_and_recovers_from_a_stale_pid_file()
    {
        var cluster = NewCluster();
        try
        {
            await cluster.StartAsync();
            Assert.True(cluster.CreatedCluster);
            Assert.Equal(1, await SelectOneAsync(cluster));
            Assert.True(File.Exists(Path.Combine(cluster.DataDirectory, "postmaster.pid")));

            await cluster.StopAsync();
            Assert.False(await cluster.IsServerRunningAsync());
            await Assert.ThrowsAnyAsync<NpgsqlException>(() => SelectOneAsync(cluster));

            // What a killed server leaves behind: a pid file naming a process that no longer runs.
            var stalePid = Process.GetProcesses().Max(p => p.Id) + 1000;
            await File.WriteAllTextAsync(Path.Combine(cluster.DataDirectory, "postmaster.pid"),
                $"{stalePid}\n{cluster.DataDirectory}\n1700000000\n5432\n{cluster.DataDirectory}\n\n  5432001    123456\nready   \n");

            await cluster.StartAsync();
            Assert.False(cluster.CreatedCluster);
            Assert.Equal(1, await SelectOneAsync(cluster));
        }
        finally
        {
            await cluster.StopAsync();
        }
    }

    [Fact]
    public async Task A_server_left_running_by_a_dead_app_is_adopted_on_the_next_start()
    {
        var first = NewCluster();
        var second = NewCluster(first.DataDirectory);
        try
        {
            await first.StartAsync();
            // first is never stopped, as if its process had been killed.
            await second.StartAsync();

            Assert.False(second.CreatedCluster);
            Assert.Equal(1, await SelectOneAsync(second));
            await second.StopAsync();
            Assert.False(await first.IsServerRunningAsync());
        }
        finally
        {
            await second.StopAsync();
            await first.StopAsync();
        }
    }

    [Fact]
    public async Task The_server_listens_on_a_unix_socket_only()
    {
        var cluster = await TestCluster.GetAsync();
        await using var connection = new NpgsqlConnection(cluster.ConnectionString("postgres"));
        Assert.Equal("", await connection.ExecuteScalarAsync<string>("show listen_addresses"));
        Assert.True(File.Exists(Path.Combine(cluster.DataDirectory, ".s.PGSQL.5432")));
    }

    [Fact]
    public async Task Missing_binaries_give_one_message_that_says_what_to_set()
    {
        var cluster = NewCluster(binDirectory: "/nonexistent/bin");
        var e = await Assert.ThrowsAsync<DatabaseStartupException>(() => cluster.StartAsync());
        Assert.Contains("Database:BinDirectory", e.Message, StringComparison.Ordinal);
        Assert.Contains("/usr/lib/postgresql", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_data_folder_that_cannot_be_created_is_named_in_the_message()
    {
        var cluster = NewCluster(dataDirectory: "/proc/recs-cannot-be-here/pg");
        var e = await Assert.ThrowsAsync<DatabaseStartupException>(() => cluster.StartAsync());
        Assert.Contains("/proc/recs-cannot-be-here/pg", e.Message, StringComparison.Ordinal);
        Assert.Contains("Database:DataDirectory", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_non_empty_folder_without_a_cluster_is_refused_and_left_alone()
    {
        var dir = TestCluster.NewTempDirectory("recs-foreign");
        var precious = Path.Combine(dir, "notes.txt");
        await File.WriteAllTextAsync(precious, "not a database");

        var e = await Assert.ThrowsAsync<DatabaseStartupException>(() => NewCluster(dir).StartAsync());

        Assert.Contains("not empty", e.Message, StringComparison.Ordinal);
        Assert.Equal("not a database", await File.ReadAllTextAsync(precious));
    }
}
