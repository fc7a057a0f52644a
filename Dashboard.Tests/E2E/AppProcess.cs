using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Npgsql;

namespace Recs.Tests.E2E;

/// <summary>
/// The real dashboard in its own process, as a user starts it: a free loopback port, a fresh data folder
/// (so it creates its own embedded cluster and demo data). Stopped with SIGTERM so it stops its cluster.
/// </summary>
public sealed class AppProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _log = new();

    private AppProcess(Process process, string baseUrl, string dataDirectory)
    {
        _process = process;
        BaseUrl = baseUrl;
        DataDirectory = dataDirectory;
    }

    public string BaseUrl { get; }

    public string DataDirectory { get; }

    /// <summary>The app's own database, reached through its Unix socket.</summary>
    public string ConnectionString => $"Host={DataDirectory};Port=5432;Username=recs;Database=recs;Pooling=false";

    public string Log
    {
        get { lock (_log) return _log.ToString(); }
    }

    /// <summary>Starts the app; on <paramref name="dataDirectory"/> when given (a database a test prepared), else on a new one.</summary>
    public static async Task<AppProcess> StartAsync(IDictionary<string, string>? settings = null, string? dataDirectory = null)
    {
        if (!File.Exists(RepoPaths.DashboardDll))
            throw new InvalidOperationException($"{RepoPaths.DashboardDll} is missing: build the solution first.");
        var port = FreePort();
        dataDirectory ??= NewDataDirectory();
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = RepoPaths.DashboardProject,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(RepoPaths.DashboardDll);
        info.ArgumentList.Add("--urls");
        info.ArgumentList.Add($"http://127.0.0.1:{port}");
        info.ArgumentList.Add($"--Database:DataDirectory={dataDirectory}");
        info.ArgumentList.Add("--Database:ServerSettings:fsync=off");
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
            info.ArgumentList.Add($"--{key}={value}");
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Development";

        var app = new AppProcess(new Process { StartInfo = info }, $"http://127.0.0.1:{port}", dataDirectory);
        app._process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (app._log) app._log.AppendLine(e.Data); };
        app._process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (app._log) app._log.AppendLine(e.Data); };
        app._process.Start();
        app._process.BeginOutputReadLine();
        app._process.BeginErrorReadLine();
        await app.WaitUntilHealthyAsync(TimeSpan.FromSeconds(90));
        return app;
    }

    private async Task WaitUntilHealthyAsync(TimeSpan timeout)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"The app exited with code {_process.ExitCode}:\n{Log}");
            try
            {
                if ((await http.GetAsync($"{BaseUrl}/healthz")).IsSuccessStatusCode)
                    return;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) { }
            await Task.Delay(250);
        }
        throw new TimeoutException($"The app did not become healthy within {timeout.TotalSeconds} s:\n{Log}");
    }

    /// <summary>Waits until the demo-data job has succeeded.</summary>
    public async Task WaitForDemoDataAsync(TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            await using var connection = new NpgsqlConnection(ConnectionString);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("select status from jobs where kind = 'demo-data' order by id desc limit 1", connection);
            var status = await command.ExecuteScalarAsync() as string;
            if (status == "succeeded")
                return;
            if (status is "failed" or "cancelled")
                throw new InvalidOperationException($"Demo data job {status}:\n{Log}");
            await Task.Delay(250);
        }
        throw new TimeoutException($"Demo data not ready within {timeout.TotalSeconds} s:\n{Log}");
    }

    /// <summary>A new folder for an app's embedded cluster, named so the test script's sweep stops its server.</summary>
    public static string NewDataDirectory() => Path.Combine(Integration.TestCluster.NewTempDirectory("recs-e2e"), "pg");

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
                await kill.WaitForExitAsync();
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await _process.WaitForExitAsync(grace.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        await File.WriteAllTextAsync(Path.Combine(RepoPaths.Root, "artifacts", "e2e-app.log"), Log);
        _process.Dispose();
    }
}
