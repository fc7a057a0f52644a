using System.Text;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Recs.Services.Audit;
using Recs.Services.Security;

namespace Recs.Tests.Integration;

/// <summary>Accounts and API keys against a real PostgreSQL: hashing, lockout, the first admin, last-admin guard, keys.</summary>
public sealed class AccountTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>
{
    private ServiceProvider Services(int failures = 3) => TestServices.Create(db.ConnectionString, new Dictionary<string, string?>
    {
        ["Auth:LockoutFailures"] = failures.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Auth:LockoutMinutes"] = "15",
        ["Auth:InitialAdminPassword"] = "",
    });

    private static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..20];

    [Fact]
    public async Task Passwords_are_stored_as_Identity_hashes_and_sign_in_checks_them()
    {
        await using var services = Services();
        var accounts = services.GetRequiredService<AccountService>();
        var name = Unique("ann");
        await accounts.CreateAsync(name, AccountRole.Engineer, "correct horse battery", mustChangePassword: false, "test-admin");

        await using var connection = new NpgsqlConnection(db.ConnectionString);
        var hash = await connection.ExecuteScalarAsync<string>("select password_hash from accounts where user_name = @name", new { name });
        Assert.DoesNotContain("correct horse", hash, StringComparison.Ordinal);
        Assert.Equal(0x01, Convert.FromBase64String(hash!)[0]); // Identity v3 format: PBKDF2 with a per-password salt

        var ok = await accounts.SignInAsync(name.ToUpperInvariant(), "correct horse battery"); // user names ignore case
        Assert.Equal(SignInStatus.Succeeded, ok.Status);
        Assert.Equal(AccountRole.Engineer, ok.Account!.AccountRole);
        Assert.Equal(SignInStatus.WrongCredentials, (await accounts.SignInAsync(name, "correct horse battery!")).Status);
        Assert.Equal(SignInStatus.WrongCredentials, (await accounts.SignInAsync("nobody-" + name, "correct horse battery")).Status);
        Assert.Equal(SignInStatus.WrongCredentials, (await accounts.SignInAsync(name, "")).Status);
        Assert.NotNull((await accounts.FindByNameAsync(name))!.LastSignIn);

        var duplicate = await Assert.ThrowsAsync<ArgumentException>(() => accounts.CreateAsync(name.ToUpperInvariant(), AccountRole.Viewer, "another password 1", false, "test-admin"));
        Assert.Contains("exists already", duplicate.Message, StringComparison.Ordinal);
        Assert.Contains("at least 10", (await Assert.ThrowsAsync<ArgumentException>(() => accounts.CreateAsync(Unique("bob"), AccountRole.Viewer, "short", false, "t"))).Message, StringComparison.Ordinal);
        Assert.Contains("letters, digits", (await Assert.ThrowsAsync<ArgumentException>(() => accounts.CreateAsync("bob'; drop table accounts;--", AccountRole.Viewer, "long enough password", false, "t"))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Repeated_failures_lock_the_account_even_for_the_right_password_until_an_admin_unlocks_it()
    {
        await using var services = Services(failures: 3);
        var accounts = services.GetRequiredService<AccountService>();
        var name = Unique("locky");
        var account = await accounts.CreateAsync(name, AccountRole.Viewer, "the right password", false, "test-admin");

        Assert.Equal(SignInStatus.WrongCredentials, (await accounts.SignInAsync(name, "wrong password 1")).Status);
        Assert.Equal(SignInStatus.WrongCredentials, (await accounts.SignInAsync(name, "wrong password 2")).Status);
        var third = await accounts.SignInAsync(name, "wrong password 3");
        Assert.Equal(SignInStatus.LockedOut, third.Status);
        Assert.Contains("try again in 15 minutes", third.Message, StringComparison.Ordinal);

        var locked = await accounts.SignInAsync(name, "the right password");
        Assert.Equal(SignInStatus.LockedOut, locked.Status);

        var (rows, _) = await services.GetRequiredService<AuditLog>().ListAsync(action: AuditActions.AccountLocked);
        Assert.Contains(rows, r => r.Target == name);

        await accounts.UnlockAsync(account.Id, "test-admin");
        Assert.Equal(SignInStatus.Succeeded, (await accounts.SignInAsync(name, "the right password")).Status);
    }

    [Fact]
    public async Task Disabling_changing_a_role_or_a_password_renews_the_security_stamp_and_the_last_admin_is_protected()
    {
        await using var services = Services();
        var accounts = services.GetRequiredService<AccountService>();
        var admin = await accounts.CreateAsync(Unique("adm"), AccountRole.Admin, "admin password 1", false, "test");
        var user = await accounts.CreateAsync(Unique("usr"), AccountRole.Viewer, "temporary password", mustChangePassword: true, admin.UserName);
        Assert.True(user.MustChangePassword);

        await accounts.SetRoleAsync(user.Id, AccountRole.Engineer, admin.UserName);
        var promoted = (await accounts.FindAsync(user.Id))!;
        Assert.Equal(AccountRole.Engineer, promoted.AccountRole);
        Assert.NotEqual(user.SecurityStamp, promoted.SecurityStamp);

        Assert.Contains("current password is wrong", (await Assert.ThrowsAsync<ArgumentException>(() => accounts.ChangePasswordAsync(user.Id, "not it at all", "my own password 7"))).Message, StringComparison.Ordinal);
        var changed = await accounts.ChangePasswordAsync(user.Id, "temporary password", "my own password 7");
        Assert.False(changed.MustChangePassword);
        Assert.NotEqual(promoted.SecurityStamp, changed.SecurityStamp);

        await accounts.SetDisabledAsync(user.Id, true, admin.UserName);
        Assert.Equal(SignInStatus.Disabled, (await accounts.SignInAsync(user.UserName, "my own password 7")).Status);

        // Other admins may exist from other tests in this database: demote them all but one first.
        foreach (var other in (await accounts.ListAsync()).Where(a => a.AccountRole == AccountRole.Admin && a.Id != admin.Id && !a.Disabled))
            await accounts.SetDisabledAsync(other.Id, true, "test");
        Assert.Contains("last active admin", (await Assert.ThrowsAsync<ArgumentException>(() => accounts.SetRoleAsync(admin.Id, AccountRole.Viewer, admin.UserName))).Message, StringComparison.Ordinal);
        Assert.Contains("last active admin", (await Assert.ThrowsAsync<ArgumentException>(() => accounts.SetDisabledAsync(admin.Id, true, admin.UserName))).Message, StringComparison.Ordinal);

        var (rows, _) = await services.GetRequiredService<AuditLog>().ListAsync(actor: admin.UserName);
        Assert.Equal([AuditActions.AccountDisable, AuditActions.AccountRole, AuditActions.AccountCreate], rows.Select(r => r.Action));
        Assert.Contains("\"to\": \"engineer\"", rows[1].Parameters, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Api_keys_are_stored_hashed_scoped_and_stop_working_when_revoked()
    {
        await using var services = Services();
        var keys = services.GetRequiredService<ApiKeyService>();
        var read = await keys.CreateAsync("shop-read", ApiKeyScope.Read, "test-admin");
        var write = await keys.CreateAsync("shop-write", ApiKeyScope.Write, "test-admin");

        Assert.StartsWith($"recs_{read.Key.Prefix}_", read.Secret, StringComparison.Ordinal);
        Assert.Equal(ApiKeyScope.Read, (await keys.ValidateAsync(read.Secret))!.KeyScope);
        Assert.Equal(ApiKeyScope.Write, (await keys.ValidateAsync(write.Secret))!.KeyScope);
        Assert.Null(await keys.ValidateAsync(read.Secret[..^1] + (read.Secret[^1] == 'A' ? 'B' : 'A')));
        Assert.Null(await keys.ValidateAsync($"recs_{read.Key.Prefix}_"));
        Assert.Null(await keys.ValidateAsync("' or 1=1 --"));
        Assert.Null(await keys.ValidateAsync(null));

        await using (var connection = new NpgsqlConnection(db.ConnectionString))
        {
            var stored = await connection.QuerySingleAsync<byte[]>("select secret_hash from api_keys where id = @id", new { id = read.Key.Id });
            Assert.Equal(32, stored.Length);
            var everything = string.Join('\n', await connection.QueryAsync<string>("select row_to_json(k)::text from api_keys k"));
            Assert.DoesNotContain(read.Secret[18..], everything, StringComparison.Ordinal);
            Assert.DoesNotContain(Convert.ToHexString(Encoding.UTF8.GetBytes(read.Secret[18..])), everything, StringComparison.OrdinalIgnoreCase);
        }

        await keys.RevokeAsync(read.Key.Id, "test-admin");
        Assert.Null(await keys.ValidateAsync(read.Secret));
        Assert.NotNull(await keys.ValidateAsync(write.Secret));
        var (rows, _) = await services.GetRequiredService<AuditLog>().ListAsync(action: AuditActions.KeyRevoke);
        Assert.Contains(rows, r => r.Target == $"shop-read ({read.Key.Prefix})" && r.Actor == "test-admin");
    }
}

/// <summary>The first start's admin, on a database of its own (it is created only when there is no account at all).</summary>
public sealed class InitialAdminTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>
{
    [Fact]
    public async Task The_first_start_creates_one_admin_with_a_generated_password_that_must_be_changed()
    {
        await using var services = TestServices.Create(db.ConnectionString, new Dictionary<string, string?> { ["Auth:InitialAdminPassword"] = "" });
        var accounts = services.GetRequiredService<AccountService>();

        var password = await accounts.EnsureInitialAdminAsync();
        Assert.NotNull(password);
        Assert.Equal(20, password.Length);
        Assert.Null(await accounts.EnsureInitialAdminAsync()); // once only, even on the next start

        var admin = (await accounts.ListAsync()).Single();
        Assert.Equal(("admin", AccountRole.Admin, true), (admin.UserName, admin.AccountRole, admin.MustChangePassword));
        var signIn = await accounts.SignInAsync("admin", password);
        Assert.Equal(SignInStatus.Succeeded, signIn.Status);
        Assert.True(signIn.Account!.MustChangePassword);
    }
}

public sealed class SigV4Tests
{
    // The "get-vanilla" case of AWS's Signature Version 4 test suite, with its published signature.
    private static readonly Dictionary<string, string> Secrets = new() { ["AKIDEXAMPLE"] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" };

    private static SignedRequest Vanilla(string signature, string date = "20150830T123600Z", string body = "") => new(
        "GET", "/", "",
        [
            new("Host", "example.amazonaws.com"),
            new("X-Amz-Date", date),
            new("Authorization", $"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{date[..8]}/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature={signature}"),
        ],
        System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(body)));

    private static readonly DateTimeOffset SignedAt = new(2015, 8, 30, 12, 36, 0, TimeSpan.Zero);
    private const string VanillaSignature = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";

    [Fact]
    public void The_published_AWS_test_vector_verifies()
    {
        var (key, failure) = SigV4.Verify(Vanilla(VanillaSignature), Secrets, "service", SignedAt.AddMinutes(3));
        Assert.Null(failure);
        Assert.Equal("AKIDEXAMPLE", key);
    }

    [Fact]
    public void A_changed_body_signature_secret_or_an_old_date_is_refused()
    {
        Assert.Equal("InvalidSignatureException", SigV4.Verify(Vanilla(VanillaSignature, body: "{}"), Secrets, "service", SignedAt).Failure!.ErrorType);
        Assert.Equal("InvalidSignatureException", SigV4.Verify(Vanilla(VanillaSignature[..^1] + "0"), Secrets, "service", SignedAt).Failure!.ErrorType);
        Assert.Equal("InvalidSignatureException",
            SigV4.Verify(Vanilla(VanillaSignature), new Dictionary<string, string> { ["AKIDEXAMPLE"] = "another secret" }, "service", SignedAt).Failure!.ErrorType);
        Assert.Equal("UnrecognizedClientException", SigV4.Verify(Vanilla(VanillaSignature), new Dictionary<string, string> { ["AKIDOTHER"] = "x" }, "service", SignedAt).Failure!.ErrorType);
        var expired = SigV4.Verify(Vanilla(VanillaSignature), Secrets, "service", SignedAt.AddMinutes(16)).Failure!;
        Assert.Contains("Signature expired", expired.Message, StringComparison.Ordinal);
        Assert.Equal("InvalidSignatureException", SigV4.Verify(Vanilla(VanillaSignature), Secrets, "personalize", SignedAt).Failure!.ErrorType);
        var twice = Vanilla(VanillaSignature);
        twice = twice with { Headers = [.. twice.Headers.Where(h => h.Key != "Authorization"), new("Authorization", twice.Headers.Single(h => h.Key == "Authorization").Value + ", Signature=00")] };
        Assert.Equal((400, "IncompleteSignatureException"), (SigV4.Verify(twice, Secrets, "service", SignedAt).Failure!.Status, SigV4.Verify(twice, Secrets, "service", SignedAt).Failure!.ErrorType));
        var unsigned = new SignedRequest("GET", "/", "", [new("Host", "example.amazonaws.com")], new byte[32]);
        Assert.Equal("MissingAuthenticationTokenException", SigV4.Verify(unsigned, Secrets, "service", SignedAt).Failure!.ErrorType);
    }

    [Theory]
    [InlineData("/", "/")]
    [InlineData("/events", "/events")]
    [InlineData("/a/./b/../c/", "/a/c/")]
    [InlineData("/%E1%88%B4", "/%25E1%2588%25B4")]
    public void Paths_are_normalised_and_encoded_again_as_the_SDKs_do(string raw, string canonical) =>
        Assert.Equal(canonical, SigV4.CanonicalPath(raw));

    [Fact]
    public void Query_parameters_are_sorted_and_strictly_encoded() =>
        Assert.Equal("Param1=value1&Param2=value%20two&b=%2A", SigV4.CanonicalQuery("Param2=value+two&b=*&Param1=value1"));
}
