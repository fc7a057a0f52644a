using System.Globalization;
using System.Text.Json;
using Recs.Services.Ingestion;
using Recs.Services.Jobs;

namespace Recs.Dashboard.Cli;

/// <summary>A verb and its options, e.g. <c>seed --scale benchmark</c>.</summary>
public sealed record Verb(string Name, IReadOnlyDictionary<string, string> Options)
{
    public string? Get(string key) => Options.TryGetValue(key, out var v) ? v : null;

    public int GetInt(string key, int fallback)
    {
        var raw = Get(key);
        if (raw is null)
            return fallback;
        return int.TryParse(raw.Replace("_", "", StringComparison.Ordinal), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= 0
            ? v
            : throw new CommandLineException($"--{key} must be a non-negative whole number, not '{raw}'.");
    }
}

public sealed class CommandLineException : Exception
{
    public CommandLineException(string message) : base(message) { }

    public CommandLineException() { }

    public CommandLineException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>Headless verbs for cron and CI: <c>dotnet run --project Dashboard -- VERB [--option value]...</c>.</summary>
public static class CommandLine
{
    private static readonly string[] Verbs = ["seed", "import", "quality", "train", "promote", "batch", "campaigns", "models", "bench", "evaluate", "accounts", "api-keys", "experiments", "simulate", "health", "help"];

    // Verbs whose first words name an action and its target: accounts create alice --role engineer.
    private static readonly string[] VerbsWithActions = ["accounts", "api-keys", "experiments"];

    // Options the web host itself reads; they may precede or follow a verb.
    private static readonly string[] HostOptions = ["urls", "environment", "contentRoot"];

    public static Verb? FindVerb(string[] args)
    {
        if (args.Length == 0 || args[0].StartsWith('-'))
            return null;
        if (!Verbs.Contains(args[0]))
            throw new CommandLineException($"Unknown command '{args[0]}'. Commands: {string.Join(", ", Verbs)}.");
        var options = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var first = 1;
        if (VerbsWithActions.Contains(args[0]))
        {
            foreach (var slot in new[] { "action", "target" })
            {
                if (first < args.Length && !args[first].StartsWith("--", StringComparison.Ordinal))
                    options[slot] = args[first++];
            }
        }
        for (var i = first; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal))
                throw new CommandLineException($"Unexpected argument '{args[i]}': options look like --name value.");
            var key = args[i][2..];
            var eq = key.IndexOf('=', StringComparison.Ordinal);
            if (eq >= 0)
                options[key[..eq]] = key[(eq + 1)..];
            else if (i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
                options[key] = args[++i];
            else
                options[key] = "true";
        }
        return new Verb(args[0], options);
    }

    public static int PrintHelp()
    {
        Console.WriteLine("""
            Recs — self-hosted recommendations with an analytics dashboard.

            dotnet run --project Dashboard                 start the dashboard (http://localhost:5000)
            dotnet run --project Dashboard -- seed [opts]  fill an empty database with generated demo data
                --scale demo|benchmark   demo: 5,000 customers / 1,000 products / 100,000 order lines (default);
                                         benchmark: 1,000,000 / 50,000 / 20,000,000
                --customers N --products N --order-lines N --seed N   override the scale
            dotnet run --project Dashboard -- import [files]   import data in one transaction; prints the import report as JSON
                --interactions FILE --items FILE --users FILE   AWS Personalize dataset CSVs (any of them; plain or .gz)
                --online-retail FILE     or the UCI Online Retail export
                bad input: a message naming the line and reason, exit code 2, and the database as it was
            dotnet run --project Dashboard -- quality           the data-quality report as JSON
            dotnet run --project Dashboard -- train [opts]      train, evaluate against popularity, register, promote if better, refresh the cache
                --recipe NAME (default auto) --campaign user-recommendations|similar-items|personalized-ranking
                --split temporal --test-ratio 0.2 --seed 42 --from 2026-01-01 --to 2026-11-01 --no-promote
                (automatic promotion is refused when the version still recommends more than Verdicts:MaxRejectedShare of
                the pairs analysts said don't make sense)
                plus the recipe's hyperparameters (as for evaluate; auto: --trials 20 --budget-seconds 600 --parallel 2)
            dotnet run --project Dashboard -- promote --version X.Y.Z [--campaign NAME]   make a version serve a campaign (default
                user-recommendations: the champion) and refresh that campaign's cache; prints the analysts' verdicts replayed
                against it (rejected pairs it still recommends, approved pairs it drops, of how many)
            dotnet run --project Dashboard -- campaigns         the campaigns and the version each serves, as JSON
            dotnet run --project Dashboard -- experiments start --campaign C --challenger X.Y.Z|remote --share PERCENT
                split the campaign's users (stable hash of user and experiment): PERCENT % get the challenger, the rest
                the campaign's version; one running experiment per campaign (user-recommendations, personalized-ranking)
            dotnet run --project Dashboard -- experiments show|stop --campaign C   the report as one JSON object (per arm: users,
                impressions, clicks, CTR, conversions, conversion rate, revenue per user with 95 % intervals; p_value) | stop it
            dotnet run --project Dashboard -- experiments promote --campaign C [--version X.Y.Z]   end it with the winner (or
                the version given) serving everyone
            dotnet run --project Dashboard -- experiments list   every experiment, newest first
            dotnet run --project Dashboard -- simulate --minutes N [--rate R] [--shoppers N] [--url URL] [--key KEY]
                shoppers of the demo business (drawn by activity) against a running Recs through its REST API, as a shop would:
                ask for recommendations, click and buy by the generator's ground-truth tastes, send the events with the
                recommendation id; --minutes wall-clock (0.5 works), --rate shoppers per second (default 5), --shoppers stop
                after N, --url default http://localhost:5000, --seed N replays a run's shoppers; without --key a temporary
                write key is made and revoked at the end (both audited); progress on stderr, a JSON summary (per version
                and arm) on stdout; refuses non-demo data
            dotnet run --project Dashboard -- models            the registry as one JSON array: version, recipe, status, campaigns,
                metrics and baseline (popularity on the same split, same keys)
            dotnet run --project Dashboard -- health [--latest]   check the champion's drift since its training data ended now
                (stored, as the daily check does) and print it as JSON: status, and per signal (new users, new products,
                category mix, NDCG@10 replayed on the last days) its state, figure, threshold and sentence; --latest: the stored one
            dotnet run --project Dashboard -- batch [--campaign NAME]   refresh the serving cache (all campaigns, or one)
            dotnet run -c Release --project Dashboard -- bench [--parts http,peak,als-online-retail,als-database,similar-items,batch,regions,compare,import-online-retail,import-personalize,recipes,auto,demo-check,demo-generate]
                --runs 3 --iterations 5 --online-retail PATH --users 1000000 --items 50000 --factors 64
                --recipes ease,rp3beta,... --scales demo,online-retail,benchmark (recipes, auto) --trials 20 --budget-seconds 600 (auto)
                engine speed with warm-up and medians, as JSON (als-database and similar-items read the configured database;
                the import parts import into scratch databases on the configured server; --rows N for import-personalize)
                demo-check: in memory, the demo's auto champion vs popularity and the Regions tiers it gives (planted
                favourites, hits, niche, similar items); --seed 42 --trials 20 --recipe NAME (instead of auto) --explain
                demo-generate: generation time and memory at --scales demo,benchmark
                http: load on a running API (--url http://127.0.0.1:5000 --key KEY --target recommendations|events --rate 500
                (0 = peak, closed loop at --concurrency 32) --seconds 30 --warmup 3; users at random from --customers 5000 demo
                ids with --unknown-percent 5 unknown ones, or --user ID; events on --products 1000): open-loop percentiles
                from each request's planned departure, rate achieved, statuses, and the answer cache's hit rate
                compare: the Compare versions page's computation on the configured database (--campaign NAME --a X.Y.Z --b X.Y.Z,
                default the two newest; --max-users 20000 = users compared before a seeded sample is taken): first call and warm median
            dotnet run --project Dashboard -- evaluate --interactions FILE [opts]   offline evaluation, no database needed
                --interactions FILE      AWS Personalize interactions CSV (USER_ID,ITEM_ID,EVENT_TYPE,EVENT_VALUE,TIMESTAMP), plain or .gz
                --online-retail FILE     or the UCI Online Retail export (purchases, cleaned as the importer does)
                --recipe NAME            auto (default: chooses and tunes on validation data), user-personalization, ease,
                                         rp3beta, similar-items, user-knn, popularity, bpr, hybrid, rating-mf,
                                         personalized-ranking
                --trials 20 --budget-seconds 600 --parallel 2   (auto)
                --split temporal|random-per-user|leave-last-out   --test-ratio 0.2   --k 10   --seed 42
                --event-weights purchase=1,view=0.2   --allow-repeats   --validation-ratio 0.1 (0: no early stopping)
                recipe hyperparameters: --factors --iterations --regularization --alpha --cg-steps (ALS),
                --factors --epochs --learning-rate --regularization (bpr), --neighbours --shrink (similar-items),
                --half-life-days (popularity, 0 = no time decay), --lambda --max-items (ease),
                --alpha --beta --neighbours (rp3beta), --neighbours --shrink (user-knn), --factors --epochs --learning-rate
                --regularization --max-sampled (hybrid), --factors --epochs --learning-rate --regularization (rating-mf)
                prints one JSON object: metrics beside the popularity baseline on the same split, the learning curve, and for
                auto the chosen recipe, its hyperparameters and every trial
            dotnet run --project Dashboard -- accounts list|create NAME|reset-password NAME|set-role NAME|unlock NAME|disable NAME|enable NAME
                --role viewer|engineer|admin (create, set-role)   --password-stdin (create: read the password from stdin;
                otherwise a temporary one is generated and printed, to be changed at first sign-in)
            dotnet run --project Dashboard -- api-keys list|create NAME|revoke PREFIX   --scope read|write (create; default read)
                create prints the key once; only its hash is stored
            Configuration keys (appsettings.json, environment Database__DataDirectory=..., or --Database:DataDirectory=...):
                ConnectionStrings:Recs, Database:DataDirectory, Database:BinDirectory, Database:Port, Database:Name,
                Database:StartTimeoutSeconds, Database:ServerSettings:<name>, DemoData:Enabled, DemoData:Customers,
                DemoData:Products, DemoData:OrderLines, DemoData:Seed, DemoData:LastMonth,
                Training:EventWeights:<type>, Training:TopN, Training:BatchRefreshHours,
                Drift:NewUserShare, Drift:NewItemShare, Drift:CategoryShift, Drift:NdcgDrop, Drift:MinEvents, Drift:MinReplayUsers,
                Drift:ReplayDays, Drift:CheckHours, Drift:FirstCheckSeconds, Drift:KeepDays,
                Auth:InitialAdminUserName, Auth:InitialAdminPassword, Auth:LockoutFailures, Auth:LockoutMinutes, Auth:SessionMinutes, Auth:SignInsPerMinute,
                Aws:AccessKeys:<access key id> (= secret key, for the AWS-compatible endpoints), Api:EventsPerSecond, Api:EventsBurst,
                Experiments:ClickEventTypes:<n>, Experiments:ConversionEventType, Experiments:ConversionWindowHours,
                Experiments:MinUsersPerArm, Experiments:MinConversionsPerArm, Experiments:Alpha, Experiments:RetentionDays
            """);
        return 0;
    }

    public static async Task<int> RunAsync(Verb verb, IServiceProvider services, TextWriter stdout, TextWriter stderr)
    {
        switch (verb.Name)
        {
            case "seed":
                return await SeedAsync(verb, services, stdout, stderr);
            case "import":
                return await ImportAsync(verb, services, stdout);
            case "quality":
                return await QualityAsync(services, stdout);
            case "train":
                return await TrainCommands.TrainAsync(verb, services, stdout);
            case "promote":
                return await TrainCommands.PromoteAsync(verb, services, stdout);
            case "batch":
                return await TrainCommands.BatchAsync(verb, services, stdout);
            case "campaigns":
                return await TrainCommands.CampaignsAsync(services, stdout);
            case "models":
                return await TrainCommands.ModelsAsync(services, stdout);
            case "bench":
                return await BenchCommand.RunAsync(verb, services, stdout, stderr);
            case "evaluate":
                return await EvaluateCommand.RunAsync(verb, stdout);
            case "accounts":
                return await SecurityCommands.AccountsAsync(verb, services, stdout);
            case "api-keys":
                return await SecurityCommands.ApiKeysAsync(verb, services, stdout);
            case "experiments":
                return await ExperimentCommands.RunAsync(verb, services, stdout);
            case "simulate":
                return await SimulateCommand.RunAsync(verb, services, stdout, stderr);
            case "health":
                return await HealthCommand.RunAsync(verb, services, stdout);
            default:
                return PrintHelp();
        }
    }

    private static async Task<int> ImportAsync(Verb verb, IServiceProvider services, TextWriter stdout)
    {
        var retail = verb.Get("online-retail");
        var files = new PersonalizeFiles(verb.Get("interactions"), verb.Get("items"), verb.Get("users"));
        if (retail is null == !files.Any)
            throw new CommandLineException("import needs --online-retail FILE, or any of --interactions FILE --items FILE --users FILE (not both kinds).");
        var request = retail is null ? new ImportRequest(files) : new ImportRequest(OnlineRetail: retail);
        var lastPhase = "";
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var progress = new Recs.Services.Engine.InlineProgress<(double Fraction, string Phase)>(p =>
        {
            if (p.Phase == lastPhase)
                return;
            lastPhase = p.Phase;
            Console.Error.WriteLine($"{clock.Elapsed.TotalSeconds,6:F1} s {p.Fraction,4:P0} {p.Phase}");
        });
        try
        {
            var report = await services.GetRequiredService<ImportService>().ImportAsync(request, "cli", progress);
            await stdout.WriteLineAsync(JsonSerializer.Serialize(report, ImportService.ReportJson));
            return 0;
        }
        catch (JobAlreadyRunningException e)
        {
            throw new CommandLineException(e.Message);
        }
    }

    private static async Task<int> QualityAsync(IServiceProvider services, TextWriter stdout)
    {
        var report = await services.GetRequiredService<DataQualityService>().ComputeAsync();
        await stdout.WriteLineAsync(JsonSerializer.Serialize(report, ImportService.ReportJson));
        return 0;
    }

    private static async Task<int> SeedAsync(Verb verb, IServiceProvider services, TextWriter stdout, TextWriter stderr)
    {
        var time = services.GetRequiredService<TimeProvider>();
        var configured = services.GetRequiredService<Microsoft.Extensions.Options.IOptions<DemoDataOptions>>().Value.ToSpec(time);
        var spec = verb.Get("scale") switch
        {
            null or "demo" => configured,
            "benchmark" => DemoDataSpec.Benchmark(configured.End),
            var other => throw new CommandLineException($"--scale must be demo or benchmark, not '{other}'."),
        };
        spec = spec with
        {
            Customers = verb.GetInt("customers", spec.Customers),
            Products = verb.GetInt("products", spec.Products),
            OrderLines = verb.GetInt("order-lines", spec.OrderLines),
            Seed = (ulong)verb.GetInt("seed", (int)spec.Seed),
        };
        if (spec.Products < 15 || spec.Customers < 1)
            throw new CommandLineException("--products must be at least 15 (one per category) and --customers at least 1.");

        var service = services.GetRequiredService<DemoDataService>();
        var generated = System.Diagnostics.Stopwatch.StartNew();
        var result = await service.GenerateAsync(spec, CancellationToken.None);
        if (result is null)
        {
            await stderr.WriteLineAsync("Another process is preparing demo data in this database right now.");
            return 1;
        }
        if (!result.Loaded)
        {
            await stderr.WriteLineAsync("The database already holds data; seed only fills an empty one (use a new Database:DataDirectory).");
            return 1;
        }
        await stdout.WriteLineAsync(JsonSerializer.Serialize(new
        {
            customers = result.Customers,
            products = result.Products,
            orders = result.Orders,
            order_lines = result.OrderLines,
            interactions = result.Interactions,
            total_seconds = Math.Round(generated.Elapsed.TotalSeconds, 2),
            load_seconds = Math.Round(result.Elapsed.TotalSeconds, 2),
            load_rows_per_second = Math.Round(result.RowsPerSecond),
        }));
        return 0;
    }
}
