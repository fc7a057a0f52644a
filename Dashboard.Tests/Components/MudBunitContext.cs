using Bunit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using MudBlazor.Services;
using Npgsql;
using Recs.Services.Analytics;
using Recs.Services.Data;
using Recs.Services.Jobs;

namespace Recs.Tests.Components;

/// <summary>The one bUnit base class: MudBlazor's services, JS interop that answers anything.</summary>
public abstract class MudBunitContext : BunitContext, IAsyncLifetime
{
    protected MudBunitContext()
    {
        // Pages here query a real database; on a busy 2-core runner that can take longer than bUnit's 1 s default.
        DefaultWaitTimeout = TimeSpan.FromSeconds(20);
        Services.AddMudServices();
        JSInterop.Mode = JSRuntimeMode.Loose;
    }

    public Task InitializeAsync() => Task.CompletedTask;

    // MudBlazor's services are only IAsyncDisposable; xunit 2 disposes test classes synchronously otherwise.
    Task IAsyncLifetime.DisposeAsync() => DisposeAsync().AsTask();

    /// <summary>Registers the real services a page needs, pointed at a test database (external mode: nothing is started).</summary>
    protected async Task UseDatabaseAsync(string connectionString)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:Recs"] = connectionString })
            .Build();
        var database = new RecsDatabase(Microsoft.Extensions.Options.Options.Create(new DatabaseOptions()), configuration, NullLogger<RecsDatabase>.Instance);
        await database.StartAsync();
        Services.AddSingleton(database);
        Services.AddSingleton<NpgsqlDataSource>(_ => database.DataSource);
        Services.AddSingleton(TimeProvider.System);
        Services.AddSingleton<JobService>();
        Services.AddSingleton<OverviewService>();
    }
}
