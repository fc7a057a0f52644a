using Microsoft.Extensions.Options;
using MudBlazor.Services;
using Recs.Dashboard.Api;
using Recs.Dashboard.Cli;
using Recs.Dashboard.Components;
using Recs.Dashboard.Security;
using Recs.Services;
using Recs.Services.Analytics;
using Recs.Services.Data;

namespace Recs.Dashboard;

/// <summary>Everything Program.cs would otherwise spell out: registrations, the pipeline, endpoints, start-up.</summary>
public static class RecsHostingExtensions
{
    /// <summary>The content root is the app's own folder when it is started from elsewhere (so appsettings.json is found).</summary>
    public static WebApplicationOptions BuilderOptions(string[] args) => new()
    {
        Args = ConfigurationArgs(args),
        ContentRootPath = File.Exists(Path.Combine(Directory.GetCurrentDirectory(), "appsettings.json")) ? null : AppContext.BaseDirectory,
    };

    private static readonly string[] HostKeys = ["urls", "environment", "contentRoot", "applicationName"];

    /// <summary>
    /// With a verb, only configuration keys (--Section:Key) and host options reach the configuration: its parser
    /// would otherwise take the argument after a value-less flag (--no-promote) as that flag's value.
    /// </summary>
    internal static string[] ConfigurationArgs(string[] args)
    {
        if (args.Length == 0 || args[0].StartsWith('-'))
            return args;
        var kept = new List<string>();
        for (var i = 1; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal))
                continue;
            var key = args[i][2..].Split('=')[0];
            if (!key.Contains(':', StringComparison.Ordinal) && !HostKeys.Contains(key, StringComparer.OrdinalIgnoreCase))
                continue;
            kept.Add(args[i]);
            if (!args[i].Contains('=', StringComparison.Ordinal) && i + 1 < args.Length)
                kept.Add(args[++i]);
        }
        return kept.ToArray();
    }

    public static WebApplicationBuilder AddRecsServices(this WebApplicationBuilder builder, string[] args)
    {
        if (args.Length > 0 && !args[0].StartsWith('-'))
        {
            // A command's stdout is its result (JSON); logs go to stderr.
            builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
            builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
            builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Error);
        }
        builder.Services.AddRecsCore();
        builder.Services.AddMudServices();
        builder.Services.AddRazorComponents().AddInteractiveServerComponents();
        builder.Services.AddRecsAuth(builder.Configuration);
        builder.Services.AddApiRateLimits(builder.Configuration);
        builder.Services.AddOpenApi(o => o.AddDocumentTransformer((document, _, _) =>
        {
            document.Info.Title = "Recs API";
            document.Info.Description = "Recommendations from the serving cache, personalized ranking, and the event tracker; "
                + "plus the AWS Personalize wire protocol (GetRecommendations, GetPersonalizedRanking, PutEvents). "
                + "Errors are JSON with a 4xx status (503 while the database is unreachable).";
            return Task.CompletedTask;
        }));
        return builder;
    }

    public static WebApplication UseRecsPipeline(this WebApplication app)
    {
        if (!app.Environment.IsDevelopment())
            app.UseExceptionHandler("/error", createScopeForErrors: true);
        app.UseStatusCodePagesWithReExecute("/not-found");
        app.UseApiStatusCodes();
        app.UseRecsAuth();
        app.UseRateLimiter();
        app.UseAntiforgery();
        // Stylesheets, scripts and icons are not secret, and the sign-in page needs them.
        app.MapStaticAssets().AllowAnonymous();
        app.MapRazorComponents<App>().AddInteractiveServerRenderMode();
        app.MapAccountEndpoints();
        return app;
    }

    public static WebApplication MapRecsEndpoints(this WebApplication app)
    {
        app.MapGet("/healthz", async (RecsDatabase db, CancellationToken ct) =>
        {
            try
            {
                await using var connection = await db.DataSource.OpenConnectionAsync(ct);
                return Results.Ok(new { status = "ok", database = db.IsEmbedded ? "embedded" : "external" });
            }
            catch (Exception e) when (e is Npgsql.NpgsqlException or TimeoutException)
            {
                return Results.Json(new { status = "unavailable", error = $"The database is not reachable: {e.Message}" }, statusCode: 503);
            }
        }).AllowAnonymous();
        // For capacity planning: managed heap after a full collection, and the process's resident memory.
        app.MapOpenApi().AllowAnonymous();
        app.MapRecsApi();
        app.MapAwsPersonalizeApi();
        app.MapVerdictDownloads();
        app.MapGet("/diagnostics/memory", () =>
        {
            var managed = GC.GetTotalMemory(forceFullCollection: true);
            using var process = System.Diagnostics.Process.GetCurrentProcess();
            return Results.Ok(new { managed_bytes = managed, working_set_bytes = process.WorkingSet64 });
        }).RequireAuthorization(RecsPolicies.ApiRead);
        // The answer cache's hits and misses since start (a load test reads it before and after a phase for its hit rate).
        app.MapGet("/diagnostics/cache", (Recs.Services.Serving.ServingCache cache) =>
        {
            var s = cache.Statistics;
            return Results.Ok(new { enabled = s.Enabled, hits = s.Hits, misses = s.Misses, hit_rate = s.HitRate, entries = s.Entries, warm = s.Warm, generation = cache.Generation });
        }).RequireAuthorization(RecsPolicies.ApiRead);
        app.MapGet("/data/quality.json", async (Recs.Services.Ingestion.DataQualityService quality, CancellationToken ct) =>
            Results.Json(await quality.ComputeAsync(ct), Recs.Services.Ingestion.ImportService.ReportJson));
        app.MapGet("/regions/tiers.csv", async (MatchRateService rates, int? top, bool? sample, string? category, string? version, CancellationToken ct) =>
        {
            try
            {
                var matrix = await rates.MatchRatesAsync(new MatchRateQuery(top ?? 10, sample == true, category, version), ct);
                return Results.File(System.Text.Encoding.UTF8.GetBytes(rates.TiersCsv(matrix)), "text/csv",
                    $"affinity-tiers-top{matrix.TopN}{(sample == true ? "-sample" : "")}-{matrix.Version ?? "none"}.csv");
            }
            catch (ArgumentException e)
            {
                return Results.BadRequest(new { error = e.Message });
            }
        });
        return app;
    }

    /// <summary>
    /// Starts the database (the embedded cluster when no connection string is set) and migrates it, then runs
    /// the web app or, when the first argument is a verb, that command. Stops the database on the way out.
    /// A start-up problem the user can fix ends the process with one message and exit code 2.
    /// </summary>
    public static async Task<int> RunRecsAsync(this WebApplication app, string[] args)
    {
        RecsDatabase? database = null;
        try
        {
            var verb = CommandLine.FindVerb(args);
            if (verb is { Name: "help" })
                return CommandLine.PrintHelp();
            if (verb is { Name: "evaluate" } || (verb is { Name: "bench" } && !BenchCommand.NeedsDatabase(verb)))
                return await CommandLine.RunAsync(verb, app.Services, Console.Out, Console.Error);
            database = app.Services.GetRequiredService<RecsDatabase>();
            await database.StartAsync(app.Lifetime.ApplicationStopping);
            if (verb is not null)
                return await CommandLine.RunAsync(verb, app.Services, Console.Out, Console.Error);
            await app.RunAsync();
            return 0;
        }
        catch (Exception e) when (e is DatabaseStartupException or OptionsValidationException or CommandLineException or Recs.Services.Ingestion.InputFileException)
        {
            await Console.Error.WriteLineAsync(e is DatabaseStartupException or OptionsValidationException ? $"Recs could not start: {e.Message}" : $"recs: {e.Message}");
            return 2;
        }
        finally
        {
            if (database is not null)
                await database.StopAsync();
        }
    }
}
