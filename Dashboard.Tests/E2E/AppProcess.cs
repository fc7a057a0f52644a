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

    /// <summary>The first admin's configured password; it must be changed at first sign-in, to <see cref="AdminPassword"/>.</summary>
    public const string InitialAdminPassword = "Initial-Passw0rd!";

    public const string AdminPassword = "Chosen-Passw0rd-42";

    /// <summary>The AWS access key pair the app accepts on its AWS-compatible endpoints.</summary>
    public const string AwsAccessKeyId = "AKIDRECSEXAMPLE";

    public const string AwsSecretKey = "recs-example-secret";

    private bool _adminPasswordChanged;

    public string BaseUrl { get; }

    public string DataDirectory { get; }

    /// <summary>Whether the app process has mapped a native library whose path contains <paramref name="name"/> (Linux /proc).</summary>
    public bool HasMapped(string name) => File.ReadAllText($"/proc/{_process.Id}/maps").Contains(name, StringComparison.Ordinal);

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
        settings = new Dictionary<string, string>(settings ?? new Dictionary<string, string>());
        settings.TryAdd("Auth:InitialAdminPassword", InitialAdminPassword);
        settings.TryAdd($"Aws:AccessKeys:{AwsAccessKeyId}", AwsSecretKey);
        // Tests say which models they need; the first-start test turns the automatic first model back on.
        settings.TryAdd("Training:FirstModel", "false");
        foreach (var (key, value) in settings)
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

    /// <summary>
    /// Signs <paramref name="page"/> in through the sign-in page. The first admin's first sign-in goes through the
    /// forced password change, as a real first start does.
    /// </summary>
    public async Task SignInAsync(Microsoft.Playwright.IPage page, string userName = "admin", string? password = null)
    {
        var isAdmin = userName == "admin" && password is null;
        password ??= _adminPasswordChanged ? AdminPassword : InitialAdminPassword;
        await page.GotoAsync($"{BaseUrl}/account/login");
        await page.FillAsync("#user-name", userName);
        await page.FillAsync("#password", password);
        await page.ClickAsync("button[type=submit]");
        await page.WaitForLoadStateAsync(Microsoft.Playwright.LoadState.DOMContentLoaded);
        if (page.Url.Contains("/account/login", StringComparison.Ordinal))
            throw new InvalidOperationException($"Sign-in as {userName} failed: {await page.InnerTextAsync("main")}");
        if (isAdmin && page.Url.Contains("/account/change-password", StringComparison.Ordinal))
        {
            await page.FillAsync("#current", password);
            await page.FillAsync("#next", AdminPassword);
            await page.FillAsync("#confirm", AdminPassword);
            await page.ClickAsync("form[data-testid=change-password-form] button[type=submit]");
            await page.WaitForURLAsync(url => !url.Contains("/account/", StringComparison.Ordinal));
            _adminPasswordChanged = true;
        }
    }

    /// <summary>Creates an account with a password of its own (no forced change) through the command line, beside the running app.</summary>
    public async Task CreateAccountAsync(string userName, string role, string password)
    {
        var (exit, stdout, stderr) = await DashboardCli.RunWithInputAsync(password, "accounts", "create", userName, "--role", role, "--password-stdin", $"--Database:DataDirectory={DataDirectory}");
        if (exit != 0)
            throw new InvalidOperationException($"accounts create {userName} exited {exit}:\n{stderr}\n{stdout}");
    }

    /// <summary>A new REST API key ("read" or "write") created through the command line, beside the running app.</summary>
    public async Task<string> CreateApiKeyAsync(string scope = "write", string name = "tests")
    {
        var json = await DashboardCli.RunOkAsync("api-keys", "create", name, "--scope", scope, $"--Database:DataDirectory={DataDirectory}");
        return System.Text.Json.JsonDocument.Parse(json).RootElement.GetProperty("key").GetString()!;
    }

    /// <summary>An HTTP client for the REST API carrying a new key of <paramref name="scope"/>.</summary>
    public async Task<HttpClient> ApiClientAsync(string scope = "write")
    {
        var http = new HttpClient { BaseAddress = new Uri(BaseUrl), Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Add("X-Api-Key", await CreateApiKeyAsync(scope));
        return http;
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
        Directory.CreateDirectory(Path.Combine(RepoPaths.Root, "artifacts"));
        await File.WriteAllTextAsync(Path.Combine(RepoPaths.Root, "artifacts", "e2e-app.log"), Log);
        _process.Dispose();
    }
}
