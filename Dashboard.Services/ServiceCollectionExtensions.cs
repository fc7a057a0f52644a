using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Recs.Services.Analytics;
using Recs.Services.Data;
using Recs.Services.Ingestion;
using Recs.Services.Jobs;
using Recs.Services.Models;
using Recs.Services.Training;

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
        services.AddHostedService<DatabaseWatchdog>();
        services.AddSingleton<ChangeFeed>();
        services.AddHostedService(sp => sp.GetRequiredService<ChangeFeed>());
        services.AddSingleton<JobService>();
        services.AddSingleton<JobRunner>();
        services.AddSingleton<Audit.AuditLog>();
        services.AddOptions<Security.AuthOptions>().BindConfiguration(Security.AuthOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<Security.AccountService>();
        services.AddSingleton<Security.ApiKeyService>();
        services.AddSingleton<DemoDataService>();
        services.AddHostedService(sp => sp.GetRequiredService<DemoDataService>());
        services.AddSingleton<ImportService>();
        services.AddSingleton<DataQualityService>();
        services.AddSingleton<OverviewService>();
        services.AddSingleton<ExplorerService>();
        services.AddOptions<RegionOptions>().BindConfiguration(RegionOptions.Section).ValidateDataAnnotations()
            .Validate(o => o.MediumTier < o.HighTier, "Regions:MediumTier must be below Regions:HighTier.")
            .ValidateOnStart();
        services.AddSingleton<MatchRateService>();
        services.AddSingleton<VersionComparisonService>();
        services.AddOptions<TrainingOptions>().BindConfiguration(TrainingOptions.Section).ValidateDataAnnotations()
            .Validate(o => o.EventWeights.Count > 0 && o.EventWeights.Values.All(w => w >= 0 && float.IsFinite(w)) && o.EventWeights.Values.Any(w => w > 0),
                "Training:EventWeights must give at least one event type a positive weight, and none a negative one.")
            .ValidateOnStart();
        services.AddSingleton<ModelRegistry>();
        services.AddSingleton<ModelStore>();
        services.AddSingleton<BatchInference>();
        services.AddOptions<Remote.EngineOptions>().BindConfiguration(Remote.EngineOptions.Section)
            .Validate(o => o.Remote.Keys.All(Campaigns.All.Contains),
                $"Engine:Remote:<campaign> can be {string.Join(", ", Campaigns.All)}.")
            .Validate(o => o.Remote.Values.All(c => System.ComponentModel.DataAnnotations.Validator.TryValidateObject(c, new(c), null, validateAllProperties: true)
                    && c.HasValidEndpoint),
                "Each Engine:Remote:<campaign> needs Region and CampaignArn, an absolute http(s) Endpoint if any, and its Concurrency, RequestsPerSecond, TimeoutSeconds and MaxRetries within their ranges.")
            .ValidateOnStart();
        services.AddHttpClient(RemoteBatch.HttpClientName);
        services.AddSingleton<RemoteBatch>();
        services.AddSingleton<CampaignEngines>();
        services.AddOptions<Serving.ApiOptions>().BindConfiguration(Serving.ApiOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<Serving.ServingCache>();
        services.AddSingleton<Serving.RemoteRanking>();
        services.AddSingleton<Serving.RecommendationService>();
        services.AddSingleton<Serving.EventTracker>();
        services.AddHostedService<Serving.ServingWarmer>();
        services.AddOptions<Verdicts.VerdictOptions>().BindConfiguration(Verdicts.VerdictOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<Verdicts.VerdictService>();
        services.AddSingleton<Verdicts.VerdictReplay>();
        services.AddOptions<ExperimentOptions>().BindConfiguration(ExperimentOptions.Section).ValidateDataAnnotations()
            .Validate(o => o.ClickEventTypes.Length > 0 && o.ClickEventTypes.All(t => !string.IsNullOrWhiteSpace(t)), "Experiments:ClickEventTypes must name at least one event type.")
            .ValidateOnStart();
        services.AddSingleton<ExperimentRegistry>();
        services.AddSingleton<Serving.RecommendationLog>();
        services.AddHostedService(sp => sp.GetRequiredService<Serving.RecommendationLog>());
        services.AddSingleton<ExperimentReportService>();
        services.AddSingleton<ExperimentService>();
        services.AddSingleton<TrainingService>();
        services.AddSingleton<Simulation.SimulationService>();
        services.AddHostedService<FirstModelService>();
        services.AddSingleton<BatchRefreshService>();
        services.AddHostedService(sp => sp.GetRequiredService<BatchRefreshService>());
        services.AddOptions<Monitoring.DriftOptions>().BindConfiguration(Monitoring.DriftOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<Monitoring.DriftService>();
        services.AddHostedService<Monitoring.DriftCheckService>();
        return services;
    }
}
