using System.Security.Cryptography;
using Dapper;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;
using Npgsql;
using Recs.Services.Audit;

namespace Recs.Services.Security;

/// <summary>What a dashboard account may do: each role includes the ones before it.</summary>
public enum AccountRole
{
    /// <summary>Analysts and product owners: read every page and export.</summary>
    Viewer,

    /// <summary>Also import data, train, promote and cancel jobs; reads the audit log.</summary>
    Engineer,

    /// <summary>Also manages accounts and API keys.</summary>
    Admin,
}

public static class AccountRoles
{
    public const string Viewer = "viewer";
    public const string Engineer = "engineer";
    public const string Admin = "admin";

    public static string Name(AccountRole role) => role switch
    {
        AccountRole.Viewer => Viewer,
        AccountRole.Engineer => Engineer,
        _ => Admin,
    };

    public static AccountRole Parse(string? role) => role?.Trim().ToLowerInvariant() switch
    {
        Viewer => AccountRole.Viewer,
        Engineer => AccountRole.Engineer,
        Admin => AccountRole.Admin,
        _ => throw new ArgumentException($"Unknown role '{role}': use viewer, engineer or admin."),
    };
}

/// <summary>Sign-in settings (the Auth configuration section).</summary>
public sealed class AuthOptions
{
    public const string Section = "Auth";

    /// <summary>The first admin's user name, created on the first start when there is no account.</summary>
    public string InitialAdminUserName { get; set; } = "admin";

    /// <summary>The first admin's password; when empty a random one is printed once to the console. Either way it must be changed at first sign-in.</summary>
    public string InitialAdminPassword { get; set; } = "";

    [System.ComponentModel.DataAnnotations.Range(1, 100, ErrorMessage = "Auth:LockoutFailures must be between 1 and 100.")]
    public int LockoutFailures { get; set; } = 5;

    [System.ComponentModel.DataAnnotations.Range(1, 10_080, ErrorMessage = "Auth:LockoutMinutes must be between 1 and 10080.")]
    public int LockoutMinutes { get; set; } = 15;

    /// <summary>Sign-in attempts one client address may make per minute (then 429).</summary>
    [System.ComponentModel.DataAnnotations.Range(1, 100_000, ErrorMessage = "Auth:SignInsPerMinute must be between 1 and 100000.")]
    public int SignInsPerMinute { get; set; } = 30;

    /// <summary>How long a sign-in lasts without activity.</summary>
    [System.ComponentModel.DataAnnotations.Range(5, 43_200, ErrorMessage = "Auth:SessionMinutes must be between 5 and 43200.")]
    public int SessionMinutes { get; set; } = 480;
}

public sealed record Account(
    long Id,
    string UserName,
    string Role,
    bool MustChangePassword,
    int FailedSignIns,
    DateTime? LockedUntil,
    bool Disabled,
    Guid SecurityStamp,
    DateTime CreatedAt,
    string CreatedBy,
    DateTime? LastSignIn)
{
    public AccountRole AccountRole => AccountRoles.Parse(Role);
}

public enum SignInStatus
{
    Succeeded,
    WrongCredentials,
    LockedOut,
    Disabled,
}

public sealed record SignInResult(SignInStatus Status, Account? Account, string? Message);

/// <summary>
/// Dashboard accounts in PostgreSQL. Passwords are hashed with ASP.NET Core Identity's hasher (PBKDF2-SHA512,
/// 100,000 iterations, per-password salt); repeated failures lock an account for a while; every change to a
/// password, role or status renews the security stamp, which signs the account out everywhere. Changes are audited.
/// </summary>
public sealed class AccountService(NpgsqlDataSource dataSource, AuditLog audit, IOptions<AuthOptions> options, TimeProvider time)
{
    public const int MinimumPasswordLength = 10;
    public const int MaximumPasswordLength = 200;

    private const string Columns = """
        id as Id, user_name as UserName, role as Role, must_change_password as MustChangePassword, failed_sign_ins as FailedSignIns,
        locked_until as LockedUntil, disabled as Disabled, security_stamp as SecurityStamp, created_at as CreatedAt,
        created_by as CreatedBy, last_sign_in as LastSignIn
        """;

    private static readonly PasswordHasher<Account> Hasher = new();

    /// <summary>A hash of a random password, verified against when the user name is unknown so that both answers take as long.</summary>
    private static readonly Lazy<string> DummyHash = new(() => Hasher.HashPassword(null!, GeneratePassword()));

    private AuthOptions Options => options.Value;

    public async Task<IReadOnlyList<Account>> ListAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return (await connection.QueryAsync<Account>(new CommandDefinition($"select {Columns} from accounts order by lower(user_name)", cancellationToken: cancellationToken))).ToList();
    }

    public async Task<Account?> FindAsync(long id, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<Account>(new CommandDefinition($"select {Columns} from accounts where id = @id", new { id }, cancellationToken: cancellationToken));
    }

    public async Task<Account?> FindByNameAsync(string userName, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<Account>(new CommandDefinition(
            $"select {Columns} from accounts where lower(user_name) = lower(@userName)", new { userName = Clean(userName) }, cancellationToken: cancellationToken));
    }

    /// <summary>Checks a password; counts failures and locks the account after <see cref="AuthOptions.LockoutFailures"/> in a row.</summary>
    public async Task<SignInResult> SignInAsync(string? userName, string? password, CancellationToken cancellationToken = default)
    {
        const string wrong = "Wrong user name or password.";
        userName = (userName ?? "").Trim();
        password ??= "";
        if (userName.Length == 0 || userName.Contains('\0', StringComparison.Ordinal) || password.Length == 0 || password.Length > MaximumPasswordLength || userName.Length > 100)
            return new SignInResult(SignInStatus.WrongCredentials, null, wrong);
        var account = await FindByNameAsync(userName, cancellationToken);
        if (account is null)
        {
            Hasher.VerifyHashedPassword(null!, DummyHash.Value, password);
            return new SignInResult(SignInStatus.WrongCredentials, null, wrong);
        }
        var now = time.GetUtcNow().UtcDateTime;
        if (account.LockedUntil is { } until && until > now)
            return new SignInResult(SignInStatus.LockedOut, account, LockedMessage(until, now));
        var hash = await PasswordHashAsync(account.Id, cancellationToken);
        var verified = Hasher.VerifyHashedPassword(account, hash, password);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        if (verified == PasswordVerificationResult.Failed)
        {
            // The counter restarts once it has locked the account, so a lockout that ends gives a fresh set of tries.
            var locked = await connection.QuerySingleAsync<DateTime?>(new CommandDefinition("""
                update accounts set
                    locked_until = case when failed_sign_ins + 1 >= @max then @until else locked_until end,
                    failed_sign_ins = case when failed_sign_ins + 1 >= @max then 0 else failed_sign_ins + 1 end
                where id = @id returning locked_until
                """, new { id = account.Id, max = Options.LockoutFailures, until = now.AddMinutes(Options.LockoutMinutes) }, cancellationToken: cancellationToken));
            if (locked is { } lockedUntil && lockedUntil > now)
            {
                await audit.RecordAsync(account.UserName, AuditActions.AccountLocked, account.UserName,
                    new { failures = Options.LockoutFailures, minutes = Options.LockoutMinutes }, "locked", CancellationToken.None);
                return new SignInResult(SignInStatus.LockedOut, account, LockedMessage(lockedUntil, now));
            }
            return new SignInResult(SignInStatus.WrongCredentials, null, wrong);
        }
        if (account.Disabled)
            return new SignInResult(SignInStatus.Disabled, account, "This account is disabled; ask an admin to enable it.");
        var rehash = verified == PasswordVerificationResult.SuccessRehashNeeded ? Hasher.HashPassword(account, password) : null;
        await connection.ExecuteAsync(new CommandDefinition("""
            update accounts set failed_sign_ins = 0, locked_until = null, last_sign_in = @now,
                password_hash = coalesce(@rehash, password_hash)
            where id = @id
            """, new { id = account.Id, now, rehash }, cancellationToken: cancellationToken));
        return new SignInResult(SignInStatus.Succeeded, account with { FailedSignIns = 0, LockedUntil = null, LastSignIn = now }, null);
    }

    private static string LockedMessage(DateTime until, DateTime now)
    {
        var minutes = Math.Max(1, (int)Math.Ceiling((until - now).TotalMinutes));
        return $"This account is locked after repeated failed sign-ins; try again in {minutes} minute{(minutes == 1 ? "" : "s")} or ask an admin to unlock it.";
    }

    /// <summary>Creates an account; <paramref name="mustChangePassword"/> makes the password a temporary one.</summary>
    public async Task<Account> CreateAsync(string userName, AccountRole role, string password, bool mustChangePassword, string actor, CancellationToken cancellationToken = default)
    {
        userName = ValidateUserName(userName);
        ValidatePassword(userName, password);
        var hash = Hasher.HashPassword(null!, password);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var id = await connection.ExecuteScalarAsync<long?>(new CommandDefinition("""
            insert into accounts (user_name, role, password_hash, must_change_password, created_by)
            values (@userName, @role, @hash, @mustChangePassword, @actor)
            on conflict (lower(user_name)) do nothing returning id
            """, new { userName, role = AccountRoles.Name(role), hash, mustChangePassword, actor }, cancellationToken: cancellationToken))
            ?? throw new ArgumentException($"An account named '{userName}' exists already.");
        await audit.RecordAsync(actor, AuditActions.AccountCreate, userName, new { role = AccountRoles.Name(role), temporary_password = mustChangePassword }, "succeeded", CancellationToken.None);
        return (await FindAsync(id, cancellationToken))!;
    }

    /// <summary>
    /// Creates the first admin when there is no account at all. Returns the generated password when none was
    /// configured (for the caller to print once), an empty string when the configured one was used, null when
    /// accounts existed already.
    /// </summary>
    public async Task<string?> EnsureInitialAdminAsync(CancellationToken cancellationToken = default)
    {
        var configured = Options.InitialAdminPassword;
        var password = string.IsNullOrEmpty(configured) ? GeneratePassword() : configured;
        var userName = ValidateUserName(Options.InitialAdminUserName);
        ValidatePassword(userName, password, "Auth:InitialAdminPassword");
        var hash = Hasher.HashPassword(null!, password);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // Two instances starting at once: the lock makes the "no account yet" check and the insert one step.
        await connection.ExecuteAsync(new CommandDefinition("lock table accounts in share row exclusive mode", transaction: transaction, cancellationToken: cancellationToken));
        var created = await connection.ExecuteAsync(new CommandDefinition("""
            insert into accounts (user_name, role, password_hash, must_change_password, created_by)
            select @userName, 'admin', @hash, true, 'system' where not exists (select 1 from accounts)
            """, new { userName, hash }, transaction, cancellationToken: cancellationToken));
        await transaction.CommitAsync(cancellationToken);
        if (created == 0)
            return null;
        await audit.RecordAsync("system", AuditActions.AccountCreate, userName,
            new { role = AccountRoles.Admin, temporary_password = true, password_source = string.IsNullOrEmpty(configured) ? "printed" : "configuration" }, "succeeded", CancellationToken.None);
        return string.IsNullOrEmpty(configured) ? password : "";
    }

    /// <summary>The account's own change: checks the current password, and ends the temporary-password state.</summary>
    public async Task<Account> ChangePasswordAsync(long id, string currentPassword, string newPassword, CancellationToken cancellationToken = default)
    {
        var account = await FindAsync(id, cancellationToken) ?? throw new ArgumentException("This account no longer exists.");
        if (Hasher.VerifyHashedPassword(account, await PasswordHashAsync(id, cancellationToken), currentPassword ?? "") == PasswordVerificationResult.Failed)
            throw new ArgumentException("The current password is wrong.");
        if (newPassword == currentPassword)
            throw new ArgumentException("The new password must differ from the current one.");
        ValidatePassword(account.UserName, newPassword);
        await UpdateAsync(id, "password_hash = @hash, must_change_password = false", new { hash = Hasher.HashPassword(account, newPassword) }, cancellationToken);
        await audit.RecordAsync(account.UserName, AuditActions.PasswordChange, account.UserName, null, "succeeded", CancellationToken.None);
        return (await FindAsync(id, cancellationToken))!;
    }

    /// <summary>An admin sets a temporary password (the account must change it at its next sign-in) and lifts a lockout.</summary>
    public async Task ResetPasswordAsync(long id, string temporaryPassword, string actor, CancellationToken cancellationToken = default)
    {
        var account = await FindAsync(id, cancellationToken) ?? throw new ArgumentException("This account no longer exists.");
        ValidatePassword(account.UserName, temporaryPassword);
        await UpdateAsync(id, "password_hash = @hash, must_change_password = true, failed_sign_ins = 0, locked_until = null",
            new { hash = Hasher.HashPassword(account, temporaryPassword) }, cancellationToken);
        await audit.RecordAsync(actor, AuditActions.PasswordReset, account.UserName, null, "succeeded", CancellationToken.None);
    }

    public async Task SetRoleAsync(long id, AccountRole role, string actor, CancellationToken cancellationToken = default)
    {
        var account = await FindAsync(id, cancellationToken) ?? throw new ArgumentException("This account no longer exists.");
        if (account.AccountRole == role)
            return;
        if (account.AccountRole == AccountRole.Admin)
            await EnsureAnotherAdminAsync(id, "take the admin role from", cancellationToken);
        await UpdateAsync(id, "role = @role", new { role = AccountRoles.Name(role) }, cancellationToken);
        await audit.RecordAsync(actor, AuditActions.AccountRole, account.UserName, new { from = account.Role, to = AccountRoles.Name(role) }, "succeeded", CancellationToken.None);
    }

    public async Task SetDisabledAsync(long id, bool disabled, string actor, CancellationToken cancellationToken = default)
    {
        var account = await FindAsync(id, cancellationToken) ?? throw new ArgumentException("This account no longer exists.");
        if (account.Disabled == disabled)
            return;
        if (disabled && account.AccountRole == AccountRole.Admin)
            await EnsureAnotherAdminAsync(id, "disable", cancellationToken);
        await UpdateAsync(id, "disabled = @disabled", new { disabled }, cancellationToken);
        await audit.RecordAsync(actor, disabled ? AuditActions.AccountDisable : AuditActions.AccountEnable, account.UserName, null, "succeeded", CancellationToken.None);
    }

    public async Task UnlockAsync(long id, string actor, CancellationToken cancellationToken = default)
    {
        var account = await FindAsync(id, cancellationToken) ?? throw new ArgumentException("This account no longer exists.");
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition("update accounts set failed_sign_ins = 0, locked_until = null where id = @id", new { id }, cancellationToken: cancellationToken));
        await audit.RecordAsync(actor, AuditActions.AccountUnlock, account.UserName, null, "succeeded", CancellationToken.None);
    }

    private async Task EnsureAnotherAdminAsync(long id, string what, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var others = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "select count(*) from accounts where role = 'admin' and not disabled and id <> @id", new { id }, cancellationToken: cancellationToken));
        if (others == 0)
            throw new ArgumentException($"You cannot {what} the last active admin: make another account admin first.");
    }

    /// <summary>Applies a change and renews the security stamp, so sessions issued before it end.</summary>
    private async Task UpdateAsync(long id, string set, object values, CancellationToken cancellationToken)
    {
        var parameters = new DynamicParameters(values);
        parameters.Add("id", id);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition($"update accounts set {set}, security_stamp = gen_random_uuid() where id = @id", parameters, cancellationToken: cancellationToken));
    }

    private async Task<string> PasswordHashAsync(long id, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<string>(new CommandDefinition("select password_hash from accounts where id = @id", new { id }, cancellationToken: cancellationToken)) ?? "";
    }

    public static string ValidateUserName(string? userName)
    {
        userName = (userName ?? "").Trim();
        if (userName.Length is 0 or > 64)
            throw new ArgumentException("A user name has 1 to 64 characters.");
        if (!userName.All(c => char.IsLetterOrDigit(c) || c is '.' or '-' or '_' or '@'))
            throw new ArgumentException("A user name has letters, digits and . - _ @ only.");
        return userName;
    }

    public static void ValidatePassword(string userName, string? password, string what = "The password")
    {
        if (password is null || password.Length < MinimumPasswordLength)
            throw new ArgumentException($"{what} needs at least {MinimumPasswordLength} characters.");
        if (password.Length > MaximumPasswordLength)
            throw new ArgumentException($"{what} has at most {MaximumPasswordLength} characters.");
        if (password.Contains('\0', StringComparison.Ordinal))
            throw new ArgumentException($"{what} cannot contain a NUL character.");
        if (string.Equals(password, userName, StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"{what} cannot be the user name.");
        if (password.Distinct().Count() < 4)
            throw new ArgumentException($"{what} needs at least 4 different characters.");
    }

    /// <summary>A random 20-character password (about 119 bits) without look-alike characters.</summary>
    public static string GeneratePassword()
    {
        const string alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        return string.Create(20, 0, (span, _) =>
        {
            for (var i = 0; i < span.Length; i++)
                span[i] = alphabet[RandomNumberGenerator.GetInt32(alphabet.Length)];
        });
    }

    private static string Clean(string s) => s.Replace("\0", "", StringComparison.Ordinal);
}
