using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Recs.Services.Analytics;
using Recs.Services.Data;
using Recs.Services.Ingestion;
using Recs.Services.Jobs;

namespace Recs.Services;

public static class ServiceCollectionExtensions
{
    /// <summary>Registers everything that is not UI: the database, jobs, ingestion and analytics.</summary>
    public static IServiceCollection AddRecsCore(this IServiceCollection services)
    {
        services.AddOptions<DatabaseOptions>().BindConfiguration(DatabaseOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<DemoDataOptions>().BindConfiguration(DemoDataOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<RecsDatabase>();
        services.AddSingleton<NpgsqlDataSource>(sp => sp.GetRequiredService<RecsDatabase>().DataSource);
        services.AddSingleton<JobService>();
        services.AddSingleton<DemoDataService>();
        services.AddHostedService(sp => sp.GetRequiredService<DemoDataService>());
        services.AddSingleton<OverviewService>();
        return services;
    }
}
