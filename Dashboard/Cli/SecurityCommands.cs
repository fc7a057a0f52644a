using System.Text.Json;
using Recs.Services.Security;

namespace Recs.Dashboard.Cli;

/// <summary>Accounts and API keys from the command line: for scripts, and for the admin who locked themselves out.</summary>
public static class SecurityCommands
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public static async Task<int> AccountsAsync(Verb verb, IServiceProvider services, TextWriter stdout)
    {
        var accounts = services.GetRequiredService<AccountService>();
        var action = verb.Get("action") ?? "list";
        if (action == "list")
        {
            var list = await accounts.ListAsync();
            await stdout.WriteLineAsync(JsonSerializer.Serialize(list.Select(a => new
            {
                a.UserName, a.Role, a.Disabled, a.MustChangePassword, a.LockedUntil, a.LastSignIn, a.CreatedAt, a.CreatedBy,
            }), Json));
            return 0;
        }
        var name = verb.Get("target") ?? throw new CommandLineException($"accounts {action} needs a user name: accounts {action} NAME.");
        try
        {
            if (action == "create")
            {
                var role = AccountRoles.Parse(verb.Get("role") ?? AccountRoles.Viewer);
                var fromStdin = verb.Get("password-stdin") == "true";
                var password = fromStdin ? (await Console.In.ReadLineAsync() ?? "") : AccountService.GeneratePassword();
                var account = await accounts.CreateAsync(name, role, password, mustChangePassword: !fromStdin, "cli");
                await stdout.WriteLineAsync(JsonSerializer.Serialize(new
                {
                    account.UserName, account.Role, temporary_password = fromStdin ? null : password, must_change_password = !fromStdin,
                }, Json));
                return 0;
            }
            var found = await accounts.FindByNameAsync(name) ?? throw new CommandLineException($"There is no account '{name}'.");
            switch (action)
            {
                case "reset-password":
                    var temporary = AccountService.GeneratePassword();
                    await accounts.ResetPasswordAsync(found.Id, temporary, "cli");
                    await stdout.WriteLineAsync(JsonSerializer.Serialize(new { found.UserName, temporary_password = temporary, must_change_password = true }, Json));
                    return 0;
                case "set-role":
                    await accounts.SetRoleAsync(found.Id, AccountRoles.Parse(verb.Get("role") ?? throw new CommandLineException("set-role needs --role viewer|engineer|admin.")), "cli");
                    break;
                case "unlock":
                    await accounts.UnlockAsync(found.Id, "cli");
                    break;
                case "disable" or "enable":
                    await accounts.SetDisabledAsync(found.Id, action == "disable", "cli");
                    break;
                default:
                    throw new CommandLineException($"Unknown accounts action '{action}': list, create, reset-password, set-role, unlock, disable, enable.");
            }
            var after = await accounts.FindAsync(found.Id);
            await stdout.WriteLineAsync(JsonSerializer.Serialize(new { after!.UserName, after.Role, after.Disabled, after.LockedUntil }, Json));
            return 0;
        }
        catch (ArgumentException e)
        {
            throw new CommandLineException(e.Message, e);
        }
    }

    public static async Task<int> ApiKeysAsync(Verb verb, IServiceProvider services, TextWriter stdout)
    {
        var keys = services.GetRequiredService<ApiKeyService>();
        var action = verb.Get("action") ?? "list";
        try
        {
            switch (action)
            {
                case "list":
                    await stdout.WriteLineAsync(JsonSerializer.Serialize(await keys.ListAsync(), Json));
                    return 0;
                case "create":
                    var scope = verb.Get("scope") switch
                    {
                        null or "read" => ApiKeyScope.Read,
                        "write" => ApiKeyScope.Write,
                        var other => throw new CommandLineException($"--scope must be read or write, not '{other}'."),
                    };
                    var created = await keys.CreateAsync(verb.Get("target") ?? throw new CommandLineException("api-keys create needs a name: api-keys create NAME."), scope, "cli");
                    await stdout.WriteLineAsync(JsonSerializer.Serialize(new { created.Key.Name, created.Key.Prefix, created.Key.Scope, key = created.Secret }, Json));
                    return 0;
                case "revoke":
                    var prefix = verb.Get("target") ?? throw new CommandLineException("api-keys revoke needs the key's prefix: api-keys revoke PREFIX.");
                    var key = (await keys.ListAsync()).FirstOrDefault(k => k.Prefix == prefix) ?? throw new CommandLineException($"There is no key with prefix '{prefix}'.");
                    await keys.RevokeAsync(key.Id, "cli");
                    await stdout.WriteLineAsync(JsonSerializer.Serialize(new { key.Name, key.Prefix, revoked = true }, Json));
                    return 0;
                default:
                    throw new CommandLineException($"Unknown api-keys action '{action}': list, create, revoke.");
            }
        }
        catch (ArgumentException e)
        {
            throw new CommandLineException(e.Message, e);
        }
    }
}
