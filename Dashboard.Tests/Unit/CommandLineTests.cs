using Recs.Dashboard;
using Recs.Dashboard.Cli;

namespace Recs.Tests.Unit;

public sealed class CommandLineTests
{
    [Fact]
    public void A_value_less_flag_does_not_swallow_the_configuration_key_after_it()
    {
        string[] args = ["train", "--recipe", "popularity", "--no-promote", "--Database:DataDirectory=/tmp/x/pg", "--urls", "http://127.0.0.1:5001"];

        var config = RecsHostingExtensions.ConfigurationArgs(args);
        var verb = CommandLine.FindVerb(args)!;

        Assert.Equal(["--Database:DataDirectory=/tmp/x/pg", "--urls", "http://127.0.0.1:5001"], config);
        Assert.Equal("true", verb.Get("no-promote"));
        Assert.Equal("popularity", verb.Get("recipe"));
    }

    [Fact]
    public void Without_a_verb_every_argument_goes_to_the_configuration()
    {
        string[] args = ["--urls", "http://127.0.0.1:5001", "--DemoData:Enabled=false"];
        Assert.Equal(args, RecsHostingExtensions.ConfigurationArgs(args));
    }

    [Fact]
    public void An_unknown_verb_is_named()
    {
        var e = Assert.Throws<CommandLineException>(() => CommandLine.FindVerb(["trian"]));
        Assert.Contains("Unknown command 'trian'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_verb_the_dispatcher_runs_is_accepted()
    {
        // `models` and `campaigns` were dispatched and documented but refused as unknown: the two lists drifted apart.
        var source = File.ReadAllText(Path.Combine(Recs.Tests.E2E.RepoPaths.DashboardProject, "Cli", "CommandLine.cs"));
        var dispatched = System.Text.RegularExpressions.Regex.Matches(source, @"case ""([a-z-]+)"":").Select(m => m.Groups[1].Value).ToList();

        Assert.Contains("models", dispatched);
        Assert.All(dispatched, verb => Assert.Equal(verb, CommandLine.FindVerb([verb])!.Name));
    }
}
