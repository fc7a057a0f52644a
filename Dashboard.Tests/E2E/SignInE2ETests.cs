using Microsoft.Playwright;

namespace Recs.Tests.E2E;

/// <summary>The sign-in pages, the admin's pages for accounts and keys, and a viewer's dashboard, in a real browser.</summary>
[Collection(BrowserCollection.Name)]
public sealed class SignInE2ETests(BrowserFixture browser)
{
    private static Task ShotAsync(IPage page, string name) =>
        page.ScreenshotAsync(new() { Path = Path.Combine(RepoPaths.Screenshots, name + ".png"), FullPage = true });

    private static Task InteractiveAsync(IPage page) =>
        page.Locator("[data-testid=interactive]").WaitForAsync(new() { State = WaitForSelectorState.Attached });

    [Fact]
    public async Task An_admin_signs_in_changes_the_first_password_creates_a_viewer_and_a_key_and_the_viewer_sees_read_only_pages()
    {
        await using var app = await AppProcess.StartAsync(new Dictionary<string, string> { ["DemoData:Enabled"] = "false" });
        var page = await browser.NewPageAsync();

        // Any page leads to the sign-in form, which remembers where you were going.
        await page.GotoAsync($"{app.BaseUrl}/models");
        Assert.Contains("/account/login?ReturnUrl=%2Fmodels", page.Url, StringComparison.Ordinal);
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Sign in" })).ToBeVisibleAsync();
        await ShotAsync(page, "sign-in");

        await page.FillAsync("#user-name", "admin");
        await page.FillAsync("#password", "not the password");
        await page.ClickAsync("button[type=submit]");
        await Assertions.Expect(page.Locator("[data-testid=sign-in-error]")).ToHaveTextAsync("Wrong user name or password.");
        await ShotAsync(page, "sign-in-error");

        // The first admin's configured password is temporary.
        await page.FillAsync("#user-name", "admin");
        await page.FillAsync("#password", AppProcess.InitialAdminPassword);
        await page.ClickAsync("button[type=submit]");
        await Assertions.Expect(page.Locator("[data-testid=must-change]")).ToBeVisibleAsync();
        await page.FillAsync("#current", AppProcess.InitialAdminPassword);
        await page.FillAsync("#next", "too-short");
        await page.FillAsync("#confirm", "too-short");
        await page.ClickAsync("form[data-testid=change-password-form] button[type=submit]");
        await Assertions.Expect(page.Locator("[data-testid=change-password-error]")).ToContainTextAsync("at least 10 characters");
        await ShotAsync(page, "change-password");
        await page.FillAsync("#current", AppProcess.InitialAdminPassword);
        await page.FillAsync("#next", AppProcess.AdminPassword);
        await page.FillAsync("#confirm", AppProcess.AdminPassword);
        await page.ClickAsync("form[data-testid=change-password-form] button[type=submit]");
        await page.WaitForURLAsync($"{app.BaseUrl}/models");
        await Assertions.Expect(page.Locator("[data-testid=signed-in-user]")).ToHaveTextAsync("admin");

        // Accounts: create a viewer; the temporary password is shown once.
        await page.GotoAsync($"{app.BaseUrl}/admin/accounts");
        await InteractiveAsync(page);
        await page.Locator("input[data-testid=new-account-name]").FillAsync("val");
        await page.Locator("[data-testid=create-account]").ClickAsync();
        await Assertions.Expect(page.Locator("[data-testid=account-val]")).ToContainTextAsync("temporary password");
        var temporary = (await page.Locator("[data-testid=temporary-password]").InnerTextAsync()).Trim();
        Assert.Equal(20, temporary.Length);
        await ShotAsync(page, "admin-accounts");

        // API keys: a write key, shown once, that the API accepts.
        await page.GotoAsync($"{app.BaseUrl}/admin/api-keys");
        await InteractiveAsync(page);
        await Assertions.Expect(page.Locator("[data-testid=api-keys-empty]")).ToBeVisibleAsync();
        await page.Locator("input[data-testid=new-key-name]").FillAsync("web-shop");
        await page.GetByLabel("write (events too)").CheckAsync();
        await page.Locator("[data-testid=create-key]").ClickAsync();
        var secret = (await page.Locator("[data-testid=created-key-secret]").InnerTextAsync()).Trim();
        Assert.StartsWith("recs_", secret, StringComparison.Ordinal);
        await Assertions.Expect(page.Locator("[data-testid=api-keys-table]")).ToContainTextAsync("web-shop");
        await Assertions.Expect(page.Locator("[data-testid=aws-keys]")).ToContainTextAsync(AppProcess.AwsAccessKeyId);
        await ShotAsync(page, "admin-api-keys");
        using (var http = new HttpClient { BaseAddress = new Uri(app.BaseUrl) })
        {
            http.DefaultRequestHeaders.Add("X-Api-Key", secret);
            Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync("/api/v1/users/anyone/recommendations")).StatusCode);
        }

        // The audit log names the admin.
        await page.GotoAsync($"{app.BaseUrl}/audit");
        await Assertions.Expect(page.Locator("[data-testid=audit-rows]")).ToContainTextAsync("api-key-create");
        await Assertions.Expect(page.Locator("[data-testid=audit-rows]")).ToContainTextAsync("account-create");
        await ShotAsync(page, "audit-log-accounts");

        // Sign out.
        await InteractiveAsync(page);
        await page.Locator("[data-testid=sign-out]").ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("/account/login", StringComparison.Ordinal));
        await Assertions.Expect(page.GetByRole(AriaRole.Status)).ToHaveTextAsync("You are signed out.");

        // The viewer: first sign-in changes the temporary password, then pages are read-only.
        await page.FillAsync("#user-name", "val");
        await page.FillAsync("#password", temporary);
        await page.ClickAsync("button[type=submit]");
        await page.FillAsync("#current", temporary);
        await page.FillAsync("#next", "val-own-password");
        await page.FillAsync("#confirm", "val-own-password");
        await page.ClickAsync("form[data-testid=change-password-form] button[type=submit]");
        await page.WaitForURLAsync($"{app.BaseUrl}/");
        await page.GotoAsync($"{app.BaseUrl}/training");
        await InteractiveAsync(page);
        await Assertions.Expect(page.Locator("[data-testid=needs-engineer]")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("[data-testid=start-training]")).ToHaveCountAsync(0);
        await Assertions.Expect(page.Locator("[data-testid=signed-in-role]")).ToHaveTextAsync("Viewer");
        await Assertions.Expect(page.GetByRole(AriaRole.Link, new() { Name = "Accounts" })).ToHaveCountAsync(0);
        await ShotAsync(page, "training-viewer");

        await page.GotoAsync($"{app.BaseUrl}/admin/accounts");
        await Assertions.Expect(page.Locator("[data-testid=denied]")).ToBeVisibleAsync();
        await ShotAsync(page, "denied");
    }
}
