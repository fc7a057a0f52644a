using Microsoft.Playwright;

namespace Recs.Tests.E2E;

/// <summary>The Experiments page: open it, read a campaign's decision and arms.</summary>
public sealed class ExperimentsPage(IPage page, string baseUrl) : PageObject(page)
{
    public async Task OpenAsync()
    {
        await Page.GotoAsync($"{baseUrl}/experiments");
        await Page.GetByRole(AriaRole.Heading, new() { Name = "Experiments", Level = 1 }).WaitForAsync();
    }

    public async Task WaitForDecisionAsync(string campaign, string decision) =>
        await Assertions.Expect(Page.Locator($"[data-testid='decision-{campaign}']")).ToHaveAttributeAsync("data-decision", decision, new() { Timeout = 30_000 });

    public Task<string> DecisionTextAsync(string campaign) => Page.Locator($"[data-testid='decision-{campaign}']").InnerTextAsync();

    public Task<string> UsersAsync(string campaign, string arm) => Page.Locator($"[data-testid='arm-{campaign}-{arm}'] [data-testid=users]").InnerTextAsync();

    public async Task AssertPromoteEnabledAsync(string campaign) =>
        await Assertions.Expect(Page.Locator($"[data-testid='promote-winner-{campaign}']")).ToBeEnabledAsync();
}
