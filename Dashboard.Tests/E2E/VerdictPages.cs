using Microsoft.Playwright;

namespace Recs.Tests.E2E;

/// <summary>Screenshots that look as a person sees the page: scrolled back to the top (a full-page shot of a scrolled page
/// draws the fixed app bar mid-page), or of the viewport alone while a dialog is open.</summary>
internal static class Shots
{
    public static async Task FromTopAsync(IPage page, string name)
    {
        await page.EvaluateAsync("window.scrollTo(0, 0)");
        await page.ScreenshotAsync(new() { Path = Path.Combine(RepoPaths.Screenshots, name + ".png"), FullPage = true });
    }

    public static async Task ViewportAsync(IPage page, string name) =>
        await page.ScreenshotAsync(new() { Path = Path.Combine(RepoPaths.Screenshots, name + ".png"), FullPage = false });
}

/// <summary>The verdict buttons beside a shown list (Users' recommendations, Similar items' neighbours): mark a row, add a note.</summary>
public sealed class VerdictButtonsOnPage(IPage page, string listTestId) : PageObject(page)
{
    private ILocator Row(int index) => Page.Locator($"[data-testid={listTestId}] tbody tr").Nth(index);

    /// <summary>
    /// Waits for the live page and its list: once the circuit starts, the page shows its empty state until it has read the
    /// customer or product again (seconds on a busy machine), and only the live list's buttons record anything.
    /// </summary>
    public async Task WaitUntilInteractiveAsync()
    {
        await Page.Locator("[data-testid=interactive]").WaitForAsync(new() { State = WaitForSelectorState.Attached, Timeout = 60_000 });
        await Page.Locator($"[data-testid={listTestId}] [data-testid=verdict-buttons]").First.WaitForAsync(new() { Timeout = 60_000 });
    }

    public async Task AssertVerdictAsync(int index, string verdict) =>
        await Assertions.Expect(Row(index).Locator("[data-testid=verdict-buttons]")).ToHaveAttributeAsync("data-verdict", verdict, new() { Timeout = 30_000 });

    /// <summary>Marks row <paramref name="index"/> "doesn't make sense" and waits until the page shows it recorded.</summary>
    public async Task MarkDoesNotMakeSenseAsync(int index)
    {
        await Row(index).Locator("[data-testid=verdict-down]").ClickAsync();
        await AssertVerdictAsync(index, "doesnt-make-sense");
    }

    public async Task MarkMakesSenseAsync(int index)
    {
        await Row(index).Locator("[data-testid=verdict-up]").ClickAsync();
        await AssertVerdictAsync(index, "makes-sense");
    }

    /// <summary>Opens the note dialog of row <paramref name="index"/> and types <paramref name="note"/> (leaves it open, for a screenshot).</summary>
    public async Task WriteNoteAsync(int index, string note)
    {
        await Row(index).Locator("[data-testid=verdict-note]").ClickAsync();
        var text = Page.Locator(".mud-dialog textarea");
        await text.WaitForAsync();
        await text.FillAsync(note);
    }

    /// <summary>Saves the open note of row <paramref name="index"/> and waits until the row shows it stored (the dialog closes before the save ends).</summary>
    public async Task SaveNoteAsync(int index)
    {
        await Page.Locator("[data-testid=verdict-note-save]").ClickAsync();
        await Page.Locator(".mud-dialog").WaitForAsync(new() { State = WaitForSelectorState.Detached });
        await Assertions.Expect(Row(index).Locator("[data-testid=verdict-buttons]")).ToHaveAttributeAsync("data-note", "yes", new() { Timeout = 30_000 });
    }

    public Task ScreenshotFromTopAsync(string name) => Shots.FromTopAsync(Page, name);

    public Task ScreenshotDialogAsync(string name) => Shots.ViewportAsync(Page, name);

    public async Task<string> ItemNameAsync(int index) => (await Row(index).Locator("a").First.InnerTextAsync()).Trim();
}

/// <summary>The Verdicts page: what analysts said, filtered through the URL.</summary>
public sealed class VerdictsListPage(IPage page, string baseUrl) : PageObject(page)
{
    public async Task OpenAsync(string query = "")
    {
        await Page.GotoAsync($"{baseUrl}/verdicts{query}");
        await Page.GetByRole(AriaRole.Heading, new() { Name = "Verdicts", Level = 1 }).WaitForAsync();
        await Page.Locator("[data-testid=interactive]").WaitForAsync(new() { State = WaitForSelectorState.Attached, Timeout = 60_000 });
    }

    public async Task AssertRowAsync(string who, string item, string verdict, string note)
    {
        var row = Page.Locator("[data-testid=verdict-rows] tbody tr").Filter(new() { HasText = item });
        await Assertions.Expect(row).ToHaveCountAsync(1, new() { Timeout = 30_000 });
        await Assertions.Expect(row).ToContainTextAsync(who);
        await Assertions.Expect(row.Locator("[data-testid=verdict]")).ToHaveTextAsync(verdict);
        await Assertions.Expect(row.Locator("[data-testid=note]")).ToHaveTextAsync(note);
    }

    public async Task AssertTotalAsync(string text) => await Assertions.Expect(Page.Locator("[data-testid=verdicts-total]")).ToHaveTextAsync(text, new() { Timeout = 30_000 });

    public async Task AssertEmptyAsync(string text) => await Assertions.Expect(Page.Locator("[data-testid=verdicts-empty]")).ToContainTextAsync(text, new() { Timeout = 30_000 });

    public async Task FilterByVerdictAsync(string label)
    {
        await Page.Locator("[data-testid=filter-verdict]").ClickAsync();
        await Page.Locator(".mud-popover-open .mud-list-item").Filter(new() { HasText = label }).First.ClickAsync();
    }
}

/// <summary>The Models page's promote dialog, which replays the verdicts against the version before confirming.</summary>
public sealed class PromoteDialogOnModels(IPage page, string baseUrl) : PageObject(page)
{
    public async Task OpenAsync(string version)
    {
        await Page.GotoAsync($"{baseUrl}/models");
        await Page.GetByRole(AriaRole.Heading, new() { Name = "Models", Level = 1 }).WaitForAsync();
        await Page.Locator("[data-testid=interactive]").WaitForAsync(new() { State = WaitForSelectorState.Attached, Timeout = 60_000 });
        await Page.Locator($"[data-testid='promote-{version}']").ClickAsync();
        await Page.Locator("[data-testid=promote-dialog]").WaitForAsync();
    }

    public async Task AssertRejectedKeptAsync(string text) =>
        await Assertions.Expect(Page.Locator("[data-testid=replay-rejected]")).ToContainTextAsync(text, new() { Timeout = 30_000 });

    public async Task AssertApprovedDroppedAsync(string text) =>
        await Assertions.Expect(Page.Locator("[data-testid=replay-approved]")).ToContainTextAsync(text);

    public async Task AssertPairListedAsync(string item, string where) =>
        await Assertions.Expect(Page.Locator("[data-testid=replay-pairs] tbody tr").Filter(new() { HasText = item })).ToContainTextAsync(where);

    public Task ScreenshotDialogAsync(string name) => Shots.ViewportAsync(Page, name);

    public async Task ConfirmAsync()
    {
        await Page.Locator("[data-testid=confirm-promote]").ClickAsync();
        await Page.Locator("[data-testid=promote-dialog]").WaitForAsync(new() { State = WaitForSelectorState.Detached });
    }
}
