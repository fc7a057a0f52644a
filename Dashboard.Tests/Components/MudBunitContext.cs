using Bunit;
using Bunit.TestDoubles;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor.Services;
using Recs.Services;
using Recs.Services.Data;
using Recs.Services.Security;

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
        Auth = AddAuthorization();
        SignInAs(AccountRole.Engineer);
    }

    /// <summary>The signed-in test user (an engineer unless a test says otherwise).</summary>
    protected BunitAuthorizationContext Auth { get; }

    /// <summary>Signs the test user in with <paramref name="role"/> (and the roles below it; the policies are named after them).</summary>
    protected void SignInAs(AccountRole role, string userName = "tester")
    {
        var roles = Enum.GetValues<AccountRole>().Where(r => r <= role).Select(AccountRoles.Name).ToArray();
        Auth.SetAuthorized(userName);
        Auth.SetRoles(roles);
        Auth.SetPolicies(roles);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    // MudBlazor's services are only IAsyncDisposable; xunit 2 disposes test classes synchronously otherwise.
    Task IAsyncLifetime.DisposeAsync() => DisposeAsync().AsTask();

    /// <summary>Registers the app's real services (as Program does), pointed at a test database; nothing is started.</summary>
    protected async Task UseDatabaseAsync(string connectionString, IDictionary<string, string?>? settings = null)
    {
        var values = new Dictionary<string, string?>(settings ?? new Dictionary<string, string?>()) { ["ConnectionStrings:Recs"] = connectionString };
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(values)
            .Build();
        Services.AddSingleton<IConfiguration>(configuration);
        Services.AddLogging();
        Services.AddRecsCore();
        await Services.GetRequiredService<RecsDatabase>().StartAsync();
    }
}
