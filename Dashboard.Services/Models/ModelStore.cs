using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Recs.Services.Data;
using Recs.Services.Engine;

namespace Recs.Services.Models;

/// <summary>A trained model ready to serve: its version, recipe, the fitted model and the maps from database ids to its indices.</summary>
public sealed class LoadedModel
{
    public LoadedModel(ModelVersion version, ModelArtifact artifact)
    {
        Version = version;
        Artifact = artifact;
        UserIndex = new Dictionary<long, int>(artifact.UserIds.Length);
        for (var u = 0; u < artifact.UserIds.Length; u++)
            UserIndex[artifact.UserIds[u]] = u;
        ItemIndex = new Dictionary<long, int>(artifact.ItemIds.Length);
        for (var i = 0; i < artifact.ItemIds.Length; i++)
            ItemIndex[artifact.ItemIds[i]] = i;
        Recipe = RecipeCatalog.Get(artifact.Model.Recipe);
    }

    public ModelVersion Version { get; }

    public ModelArtifact Artifact { get; }

    public Recommender Model => Artifact.Model;

    public RecipeDescriptor Recipe { get; }

    public Dictionary<long, int> UserIndex { get; }

    public Dictionary<long, int> ItemIndex { get; }
}

/// <summary>
/// The only way in to trained models for serving and analytics: loads artifacts from the registry, keeps the champion
/// and the last few versions asked for in memory, and drops the champion when the change feed says another version
/// was promoted (in any instance). While the feed is not listening it cannot hear that, so it asks the registry each
/// time instead (slower, never stale).
/// </summary>
public sealed class ModelStore : IDisposable
{
    private const int KeptVersions = 3;

    private readonly ModelRegistry _registry;
    private readonly ChangeFeed _feed;
    private readonly ILogger<ModelStore> _logger;
    private readonly IDisposable _subscription;
    private readonly SemaphoreSlim _loading = new(1, 1);
    private readonly ConcurrentDictionary<string, Lazy<Task<LoadedModel?>>> _versions = new();
    private readonly ConcurrentDictionary<string, Task<LoadedModel?>> _serving = new();

    public ModelStore(ModelRegistry registry, ChangeFeed feed, ILogger<ModelStore> logger)
    {
        _registry = registry;
        _feed = feed;
        _logger = logger;
        _subscription = feed.Subscribe(ChangeChannels.Models, _ => Forget());
        feed.ListeningChanged += OnListeningChanged;
    }

    private void OnListeningChanged(bool listening) => Forget();

    // A change heard while a campaign's version was being read must not leave the old answer behind: generations tell.
    private long _generation;

    private void Forget()
    {
        Interlocked.Increment(ref _generation);
        _serving.Clear();
    }

    /// <summary>The champion (the user-recommendations campaign's version), loaded; null when there is none.</summary>
    public Task<LoadedModel?> ChampionAsync(CancellationToken cancellationToken = default) => ServingAsync(Campaigns.UserRecommendations, cancellationToken);

    /// <summary>The version serving a campaign, loaded; null when there is none (or its artifact is missing).</summary>
    public async Task<LoadedModel?> ServingAsync(string campaign, CancellationToken cancellationToken = default)
    {
        if (_serving.TryGetValue(campaign, out var cached) && _feed.Listening && cached.IsCompletedSuccessfully)
            return cached.Result;
        await _loading.WaitAsync(cancellationToken);
        try
        {
            if (_serving.TryGetValue(campaign, out cached) && _feed.Listening && cached.IsCompletedSuccessfully)
                return cached.Result;
            var generation = Interlocked.Read(ref _generation);
            var serving = await _registry.ServingAsync(campaign, cancellationToken);
            var loaded = serving is null ? null : await GetAsync(serving.Version, cancellationToken);
            if (loaded is not null && cached is { IsCompletedSuccessfully: true } && cached.Result?.Version.Version != loaded.Version.Version)
                _logger.LogInformation("The {Campaign} campaign now serves {Version} ({Recipe})", campaign, serving!.Version, serving.Recipe);
            if (Interlocked.Read(ref _generation) == generation)
                _serving[campaign] = Task.FromResult(loaded);
            return loaded;
        }
        finally
        {
            _loading.Release();
        }
    }

    /// <summary>Any registered version, loaded (the last few are kept); null when it has no artifact.</summary>
    public async Task<LoadedModel?> GetAsync(string version, CancellationToken cancellationToken = default)
    {
        var entry = _versions.GetOrAdd(version, v => new Lazy<Task<LoadedModel?>>(() => LoadAsync(v)));
        if (_versions.Count > KeptVersions)
        {
            foreach (var key in _versions.Keys.Where(k => k != version).Take(_versions.Count - KeptVersions))
                _versions.TryRemove(key, out _);
        }
        try
        {
            return await entry.Value.WaitAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _versions.TryRemove(version, out _); // not kept: the next call tries again
            throw;
        }
    }

    private async Task<LoadedModel?> LoadAsync(string version)
    {
        var row = await _registry.GetAsync(version);
        var artifact = row is null ? null : await _registry.LoadArtifactAsync(version);
        return row is null || artifact is null ? null : new LoadedModel(row, artifact);
    }

    public void Dispose()
    {
        _subscription.Dispose();
        _feed.ListeningChanged -= OnListeningChanged;
        _loading.Dispose();
    }
}
