using Bunit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor.Services;
using Recs.Services;
using Recs.Services.Data;

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

    /// <summary>Registers the app's real services (as Program does), pointed at a test database; nothing is started.</summary>
    protected async Task UseDatabaseAsync(string connectionString)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:Recs"] = connectionString })
            .Build();
        Services.AddSingleton<IConfiguration>(configuration);
        Services.AddLogging();
        Services.AddRecsCore();
        await Services.GetRequiredService<RecsDatabase>().StartAsync();
    }
}
