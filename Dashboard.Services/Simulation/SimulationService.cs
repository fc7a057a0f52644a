using System.Globalization;
using Microsoft.Extensions.Logging;
using Recs.Services.Engine;
using Recs.Services.Ingestion;
using Recs.Services.Jobs;
using Recs.Services.Models;
using Recs.Services.Security;

namespace Recs.Services.Simulation;

/// <summary>A simulation to run: against which Recs, how long and fast, with which key (null: a temporary one is made and revoked at the end).</summary>
public sealed record SimulationRequest(string Url, SimulationSettings Settings, string RequestedBy, string? ApiKey = null);

/// <summary>
/// Runs the shopper simulator for the command line (inline) and the Training page (as a cancellable job): rebuilds the
/// demo business's ground truth from the seed its demo-data job recorded, mints a temporary write key unless one is
/// given (both audited), drives the API, and revokes the key whatever happens.
/// </summary>
public sealed class SimulationService(DemoDataService demo, ApiKeyService keys, JobRunner runner, ModelRegistry registry, Audit.AuditLog audit,
    TimeProvider time, ILogger<SimulationService> logger)
{
    public const string NotDemoData =
        "The simulator replays the demo business's shoppers, and this database's data did not come from the demo generator " +
        "(no demo seed is recorded, or an import replaced the demo data). Start with an empty database and demo data (seed, or DemoData:Enabled=true).";

    private readonly Lock _lock = new();
    private (DemoDataSpec Spec, Task<ShopperModel> Model)? _groundTruth;

    /// <summary>The shopper model of the demo data this database holds; throws <see cref="SimulationException"/> when it holds other data.</summary>
    public async Task<ShopperModel> GroundTruthAsync(CancellationToken cancellationToken = default)
    {
        var spec = await demo.RecordedSpecAsync(cancellationToken) ?? throw new SimulationException(NotDemoData);
        Task<ShopperModel> model;
        lock (_lock)
        {
            if (_groundTruth is not { } cached || cached.Spec != spec)
                _groundTruth = (spec, Task.Run(() => new ShopperModel(DemoDataGenerator.Generate(spec)), CancellationToken.None));
            model = _groundTruth.Value.Model;
        }
        return await model.WaitAsync(cancellationToken);
    }

    /// <summary>Checks what a run needs before it starts: demo data with a recorded seed, and a champion serving recommendations.</summary>
    public async Task CheckReadyAsync(CancellationToken cancellationToken = default)
    {
        if (await demo.RecordedSpecAsync(cancellationToken) is null)
            throw new SimulationException(NotDemoData);
        if (await registry.ChampionAsync(cancellationToken) is null)
            throw new SimulationException("There is no champion model yet: train one first, so shoppers get recommendations to react to.");
    }

    /// <summary>Runs a simulation in the caller and returns its summary.</summary>
    public async Task<SimulationSummary> RunAsync(SimulationRequest request, IProgress<SimulationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        request.Settings.Validate();
        var baseUrl = ParseUrl(request.Url);
        var model = await GroundTruthAsync(cancellationToken);
        CreatedApiKey? minted = null;
        var key = request.ApiKey;
        if (key is null)
        {
            minted = await keys.CreateAsync($"shopper simulator {time.GetUtcNow():yyyy-MM-dd HH:mm:ss}", ApiKeyScope.Write, request.RequestedBy, cancellationToken);
            key = minted.Secret;
        }
        try
        {
            using var http = new HttpClient { BaseAddress = baseUrl, Timeout = TimeSpan.FromSeconds(30) };
            http.DefaultRequestHeaders.Add("X-Api-Key", key);
            return await new ShopperSimulator(model, http, time).RunAsync(request.Settings, progress, cancellationToken);
        }
        finally
        {
            if (minted is not null)
            {
                try
                {
                    await keys.RevokeAsync(minted.Key.Id, request.RequestedBy, CancellationToken.None);
                }
                catch (Exception e) when (e is Npgsql.NpgsqlException or TimeoutException)
                {
                    logger.LogError(e, "The simulator's temporary API key {Prefix} could not be revoked; revoke it with api-keys revoke", minted.Key.Prefix);
                }
            }
        }
    }

    /// <summary>Starts a simulation as a background job (one at a time); throws <see cref="SimulationException"/> when it cannot run.</summary>
    public async Task<JobRecord> StartAsync(SimulationRequest request, CancellationToken cancellationToken = default)
    {
        request.Settings.Validate();
        ParseUrl(request.Url);
        await CheckReadyAsync(cancellationToken);
        var s = request.Settings;
        var parameters = new { url = request.Url, shoppers = s.Shoppers, minutes = s.Duration?.TotalMinutes, rate = s.ShoppersPerSecond, seed = s.Seed };
        var definition = new JobDefinition(JobKinds.Simulation, parameters, request.RequestedBy)
        {
            Audit = (Audit.AuditActions.Simulate, request.Url),
            Cancelled = "Stopped; what the shoppers did until then stays recorded",
            Failed = "The simulation stopped with an error",
        };
        return await runner.StartAsync(definition, job =>
        {
            var progress = new InlineProgress<SimulationProgress>(p => job.Report(p.Fraction,
                $"{p.Shoppers:N0} shoppers · {p.Clicks:N0} clicks · {p.Purchases:N0} purchases{(p.Errors > 0 ? $" · {p.Errors:N0} errors" : "")}"));
            return RunAsync(request, progress, job.Cancellation);
        }, summary => new JobOutcome(Describe(summary), summary), cancellationToken);
    }

    /// <summary>Cancels a simulation running in this process, recording who asked; false when it is not running here.</summary>
    public async Task<bool> CancelAsync(long jobId, string requestedBy)
    {
        var cancelled = runner.Cancel(jobId);
        await audit.RecordAsync(requestedBy, Audit.AuditActions.Cancel, $"simulation job {jobId}", new { job = jobId }, cancelled ? "cancelled" : "not running here");
        return cancelled;
    }

    /// <summary>A job's message: what the shoppers did, then what the running experiment's report says now (when one runs).</summary>
    public static string Describe(SimulationSummary s)
    {
        var done = string.Create(CultureInfo.InvariantCulture,
            $"{s.Shoppers:N0} shoppers in {s.ElapsedSeconds:N0} s: {s.Clicks:N0} clicks, {s.Purchases:N0} purchases ({s.Revenue:N2} revenue), {s.Errors:N0} errors.");
        return s.Experiment?["status"]?.GetValue<string>() == "running" && s.Experiment["summary"]?.GetValue<string>() is { } verdict
            ? $"{done} Experiment: {verdict}"
            : done;
    }

    /// <summary>An absolute http(s) address; <see cref="ArgumentException"/> otherwise.</summary>
    public static Uri ParseUrl(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? new Uri(uri.GetLeftPart(UriPartial.Path).TrimEnd('/') + "/")
            : throw new ArgumentException($"The URL must be an absolute http:// or https:// address, like http://localhost:5000, not '{url}'.");
}
