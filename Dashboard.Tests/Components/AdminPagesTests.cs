using Bunit;
using Microsoft.Extensions.DependencyInjection;
using Recs.Dashboard.Components.Pages;
using Recs.Dashboard.Components.Pages.Admin;
using Recs.Services.Audit;
using Recs.Services.Security;
using Recs.Tests.Integration;

namespace Recs.Tests.Components;

public sealed class AdminPagesTests(DatabaseFixture db) : MudBunitContext, IClassFixture<DatabaseFixture>
{
    [Fact]
    public async Task An_admin_creates_an_account_sees_its_temporary_password_once_and_cannot_disable_the_last_admin()
    {
        await UseDatabaseAsync(db.ConnectionString);
        var accounts = Services.GetRequiredService<AccountService>();
        var admin = await accounts.CreateAsync("root-admin", AccountRole.Admin, "root admin password", false, "test");
        foreach (var other in (await accounts.ListAsync()).Where(a => a.AccountRole == AccountRole.Admin && a.Id != admin.Id))
            await accounts.SetDisabledAsync(other.Id, true, "test");
        SignInAs(AccountRole.Admin, "root-admin");

        var cut = Render<AccountsPage>();
        cut.WaitForAssertion(() => Assert.NotNull(cut.Find("[data-testid=account-root-admin]")));
        Assert.Contains("(you)", cut.Find("[data-testid=account-root-admin]").TextContent, StringComparison.Ordinal);

        cut.Find("input[data-testid=new-account-name]").Input("nina");
        cut.Find("button[data-testid=create-account]").Click();
        cut.WaitForAssertion(() => Assert.Contains("temporary password", cut.Find("[data-testid=account-nina]").TextContent, StringComparison.Ordinal));
        var temporary = cut.Find("[data-testid=temporary-password]").TextContent.Trim();
        Assert.Equal(SignInStatus.Succeeded, (await accounts.SignInAsync("nina", temporary)).Status);
        Assert.True((await accounts.FindByNameAsync("nina"))!.MustChangePassword);

        cut.Find("button[data-testid=toggle-root-admin]").Click();
        cut.WaitForAssertion(() => Assert.Contains("last active admin", cut.Find("[data-testid=accounts-message]").TextContent, StringComparison.Ordinal));
        Assert.False((await accounts.FindByNameAsync("root-admin"))!.Disabled);

        var (rows, _) = await Services.GetRequiredService<AuditLog>().ListAsync(action: AuditActions.AccountCreate, actor: "root-admin");
        Assert.Equal("nina", rows.Single().Target);
    }

    [Fact]
    public async Task The_page_refuses_a_change_from_an_account_without_the_admin_role_even_if_it_is_rendered()
    {
        await UseDatabaseAsync(db.ConnectionString);
        SignInAs(AccountRole.Engineer, "ed");
        var cut = Render<AccountsPage>();
        cut.WaitForAssertion(() => Assert.NotNull(cut.Find("[data-testid=accounts-table]")));
        cut.Find("input[data-testid=new-account-name]").Input("sneaky");

        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => cut.Find("button[data-testid=create-account]").ClickAsync(new Microsoft.AspNetCore.Components.Web.MouseEventArgs()));
        Assert.Null(await Services.GetRequiredService<AccountService>().FindByNameAsync("sneaky"));
    }

    [Fact]
    public async Task A_created_api_key_is_shown_once_listed_by_its_prefix_and_accepted()
    {
        await UseDatabaseAsync(db.ConnectionString);
        SignInAs(AccountRole.Admin, "key-admin");
        var cut = Render<ApiKeysPage>();
        cut.WaitForAssertion(() => Assert.True(cut.FindAll("[data-testid=api-keys-empty]").Count + cut.FindAll("[data-testid=api-keys-table]").Count == 1));
        Assert.Contains("None configured", cut.Find("[data-testid=aws-keys]").TextContent, StringComparison.Ordinal);

        cut.Find("input[data-testid=new-key-name]").Input("reporting");
        cut.Find("button[data-testid=create-key]").Click();
        cut.WaitForAssertion(() => Assert.StartsWith("recs_", cut.Find("[data-testid=created-key-secret]").TextContent.Trim(), StringComparison.Ordinal));
        var secret = cut.Find("[data-testid=created-key-secret]").TextContent.Trim();
        var key = await Services.GetRequiredService<ApiKeyService>().ValidateAsync(secret);
        Assert.NotNull(key);
        Assert.Equal(ApiKeyScope.Read, key.KeyScope);
        Assert.Contains("reporting", cut.Find($"[data-testid=key-{key.Prefix}]").TextContent, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, cut.Find("[data-testid=api-keys-table]").TextContent, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_viewer_sees_why_the_training_form_is_missing()
    {
        await UseDatabaseAsync(db.ConnectionString);
        SignInAs(AccountRole.Viewer, "vera");
        var cut = Render<Training>();
        cut.WaitForAssertion(() => Assert.NotNull(cut.Find("[data-testid=needs-engineer]")));
        Assert.Empty(cut.FindAll("[data-testid=start-training]"));

        SignInAs(AccountRole.Engineer, "ed");
        var engineer = Render<Training>();
        engineer.WaitForAssertion(() => Assert.NotNull(engineer.Find("[data-testid=start-training]")));
        Assert.Empty(engineer.FindAll("[data-testid=needs-engineer]"));
    }
}
