using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Recs.Services;

namespace Recs.Tests.Integration;

/// <summary>The app's real service registrations, pointed at a test database.</summary>
public static class TestServices
{
    public static ServiceProvider Create(string connectionString, IDictionary<string, string?>? settings = null)
    {
        var values = new Dictionary<string, string?> { ["ConnectionStrings:Recs"] = connectionString };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
            values[key] = value;
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(values).Build());
        services.AddLogging();
        services.AddRecsCore();
        return services.BuildServiceProvider();
    }
}
