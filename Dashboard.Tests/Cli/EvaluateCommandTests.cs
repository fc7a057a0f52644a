using System.Globalization;
using System.Text;
using System.Text.Json;
using Recs.Services.Ingestion;
using Recs.Tests.E2E;

namespace Recs.Tests.Cli;

/// <summary>The evaluate verb as cron or CI runs it: the real binary, a file, JSON on stdout, a message and an exit code on error.</summary>
public sealed class EvaluateCommandTests
{
    private static readonly Lazy<string> InteractionsFile = new(WriteInteractions);
    private static int _usersInFile;
    private static int _linesInFile;

    // Purchases and views of a small generated business, in the AWS Personalize interactions format.
    private static string WriteInteractions()
    {
        var data = DemoDataGenerator.Generate(new DemoDataSpec { Customers = 500, Products = 120, OrderLines = 8_000, Seed = 3 });
        var path = Path.Combine(Integration.TestCluster.NewTempDirectory("recs-cli"), "interactions.csv");
        var text = new StringBuilder("USER_ID,ITEM_ID,EVENT_TYPE,EVENT_VALUE,TIMESTAMP\n");
        foreach (var line in data.Lines)
        {
            var order = data.Orders[line.Order];
            text.Append(CultureInfo.InvariantCulture, $"C{order.Customer},P{line.Product},purchase,{line.Quantity},{order.Time}\n");
        }
        foreach (var view in data.Views)
            text.Append(CultureInfo.InvariantCulture, $"C{view.Customer},P{view.Product},view,1,{view.Time}\n");
        File.WriteAllText(path, text.ToString());
        _linesInFile = data.Lines.Count + data.Views.Count;
        _usersInFile = data.Lines.Select(l => data.Orders[l.Order].Customer).Concat(data.Views.Select(v => v.Customer)).Distinct().Count();
        return path;
    }

    private static Task<(int Exit, string Stdout, string Stderr)> RunAsync(params string[] args) => DashboardCli.RunAsync(args);

    [Theory]
    [InlineData("temporal", "0.2", "user-personalization")]
    [InlineData("random-per-user", "0.25", "user-personalization")]
    [InlineData("leave-last-out", "0.2", "similar-items")]
    public async Task Prints_one_json_object_with_metrics_beside_the_baseline(string split, string ratio, string recipe)
    {
        string[] hyperparameters = recipe == "similar-items" ? ["--neighbours", "30"] : ["--factors", "16", "--iterations", "8"];
        var (exit, stdout, stderr) = await RunAsync(["evaluate", "--interactions", InteractionsFile.Value, "--split", split, "--test-ratio", ratio,
            "--k", "10", "--recipe", recipe, "--seed", "42", "--event-weights", "purchase=1,view=0.2", .. hyperparameters]);

        Assert.True(exit == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var root = json.RootElement;
        Assert.Equal(recipe, root.GetProperty("recipe").GetString());
        Assert.Equal(split, root.GetProperty("split").GetString());
        Assert.Equal(10, root.GetProperty("k").GetInt32());
        Assert.Equal(_usersInFile, root.GetProperty("users").GetInt32());
        Assert.True(root.GetProperty("test_users").GetInt32() > 0);
        foreach (var key in new[] { "precision@10", "recall@10", "ndcg@10", "map@10", "mrr@10", "hit_rate@10", "coverage@10", "diversity@10", "novelty@10" })
        {
            Assert.True(root.GetProperty("metrics").TryGetProperty(key, out _), $"metrics.{key} missing");
            Assert.True(root.GetProperty("baseline").TryGetProperty(key, out _), $"baseline.{key} missing");
        }
        foreach (var block in new[] { "metrics", "baseline" })
        {
            foreach (var metric in root.GetProperty(block).EnumerateObject())
            {
                if (metric.Value.ValueKind == JsonValueKind.Null)
                    continue;
                var upper = metric.Name.StartsWith("novelty", StringComparison.Ordinal) ? 64 : 1;
                Assert.InRange(metric.Value.GetDouble(), 0, upper);
            }
        }
        // Every interaction of the file is in exactly one part of the split.
        Assert.Equal(_linesInFile, root.GetProperty("train_interactions").GetInt32() + root.GetProperty("test_interactions").GetInt32());
        Assert.True(root.GetProperty("metrics").GetProperty("ndcg@10").GetDouble() > 0, "a model that never hits is not being evaluated");
        if (recipe == "user-personalization")
            Assert.True(root.GetProperty("history").GetArrayLength() > 0);
    }

    [Theory]
    [InlineData("--recipe", "magic", "--recipe must be one of")]
    [InlineData("--split", "sideways", "--split must be one of")]
    [InlineData("--test-ratio", "1.5", "--test-ratio must be")]
    [InlineData("--factors", "zero", "factors must be a whole number")]
    [InlineData("--wings", "2", "has no hyperparameter 'wings'")]
    public async Task Bad_arguments_give_a_message_and_a_non_zero_exit_not_a_stack_trace(string option, string value, string message)
    {
        var (exit, stdout, stderr) = await RunAsync("evaluate", "--interactions", InteractionsFile.Value, "--recipe", "user-personalization", option, value);

        Assert.NotEqual(0, exit);
        Assert.Contains(message, stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
        Assert.Equal("", stdout.Trim());
    }

    [Fact]
    public async Task A_bad_file_is_reported_with_its_line_and_reason()
    {
        var dir = Integration.TestCluster.NewTempDirectory("recs-cli-bad");
        var bad = Path.Combine(dir, "bad.csv");
        await File.WriteAllTextAsync(bad, "USER_ID,ITEM_ID,EVENT_TYPE,EVENT_VALUE,TIMESTAMP\nu1,i1,purchase,1,1700000000\nu2,i2,purchase,1,yesterday\n");
        var missing = Path.Combine(dir, "missing.csv");

        var badRun = await RunAsync("evaluate", "--interactions", bad);
        var missingRun = await RunAsync("evaluate", "--interactions", missing);
        var noFile = await RunAsync("evaluate");

        Assert.NotEqual(0, badRun.Exit);
        Assert.Contains("line 3", badRun.Stderr, StringComparison.Ordinal);
        Assert.Contains("TIMESTAMP 'yesterday'", badRun.Stderr, StringComparison.Ordinal);
        Assert.NotEqual(0, missingRun.Exit);
        Assert.Contains("File not found", missingRun.Stderr, StringComparison.Ordinal);
        Assert.NotEqual(0, noFile.Exit);
        Assert.Contains("--interactions", noFile.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", badRun.Stderr + missingRun.Stderr + noFile.Stderr, StringComparison.Ordinal);
    }
}
