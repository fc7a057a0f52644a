using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using Npgsql;
using Recs.Tests.E2E;

namespace Recs.Tests.Api;

/// <summary>
/// The real app serving a small generated business with an ALS champion: seeded and trained with the CLI verbs
/// (as an operator would), then started as its own process on a free port.
/// </summary>
public sealed class ApiServerFixture : IAsyncLifetime
{
    public AppProcess App { get; private set; } = null!;

    /// <summary>A client with a write key (the event tracker needs one); <see cref="ReadKey"/> is a read-only key.</summary>
    public HttpClient Http { get; private set; } = null!;

    public string WriteKey { get; private set; } = "";

    public string ReadKey { get; private set; } = "";

    public async Task InitializeAsync()
    {
        var dataDirectory = AppProcess.NewDataDirectory();
        string[] database = [$"--Database:DataDirectory={dataDirectory}", "--Database:ServerSettings:fsync=off"];
        await DashboardCli.RunOkAsync(["seed", "--customers", "600", "--products", "150", "--order-lines", "9000", .. database]);
        await DashboardCli.RunOkAsync(["train", "--recipe", "user-personalization", "--factors", "16", "--iterations", "6", .. database]);
        App = await AppProcess.StartAsync(new Dictionary<string, string> { ["DemoData:Enabled"] = "false" }, dataDirectory);
        WriteKey = await App.CreateApiKeyAsync("write", "api-tests-write");
        ReadKey = await App.CreateApiKeyAsync("read", "api-tests-read");
        Http = new HttpClient { BaseAddress = new Uri(App.BaseUrl), Timeout = TimeSpan.FromSeconds(30) };
        Http.DefaultRequestHeaders.Add("X-Api-Key", WriteKey);
    }

    public async Task<T> QueryAsync<T>(string sql, object? parameters = null)
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        return await connection.ExecuteScalarAsync<T>(sql, parameters) ?? throw new InvalidOperationException($"no value for {sql}");
    }

    public async Task ExecuteAsync(string sql, object? parameters = null)
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.ExecuteAsync(sql, parameters);
    }

    public async Task<JsonElement> GetJsonAsync(string path, int expectedStatus = 200)
    {
        var response = await Http.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == expectedStatus, $"GET {path}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement;
    }

    public async Task<JsonElement> PostJsonAsync(string path, object body, int expectedStatus = 200)
    {
        var response = await Http.PostAsJsonAsync(path, body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == expectedStatus, $"POST {path}: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement;
    }

    public async Task DisposeAsync()
    {
        Http?.Dispose();
        if (App is not null)
            await App.DisposeAsync();
    }
}
