using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.Components.Server;
using Microsoft.Extensions.Options;
using Npgsql;
using Recs.Dashboard.Api;
using Recs.Services.Security;

namespace Recs.Dashboard.Security;

/// <summary>Authorization policies: the dashboard's three roles, and the API's scopes.</summary>
public static class RecsPolicies
{
    public const string Viewer = "viewer";
    public const string Engineer = "engineer";
    public const string Admin = "admin";
    public const string ApiRead = "api-read";
    public const string ApiWrite = "api-write";
    public const string AwsSigned = "aws-signed";
}

public static class RecsClaims
{
    public const string AccountId = ClaimTypes.NameIdentifier;
    public const string SecurityStamp = "recs:stamp";
    public const string MustChangePassword = "recs:must-change-password";
    public const string ApiKeyPrefix = "recs:api-key";
    public const string Scope = "recs:scope";
    public const string AwsAccessKey = "recs:aws-access-key";
}

/// <summary>
/// Sign-in for the dashboard (a cookie issued by the sign-in page, roles Viewer ⊂ Engineer ⊂ Admin), API keys for
/// /api/v1, AWS SigV4 for the AWS-compatible endpoints. Every endpoint without its own rule requires a signed-in
/// account (the fallback policy), which covers every page, the Blazor hub and the dashboard's downloads.
/// </summary>
public static class RecsAuth
{
    public const string LoginPath = "/account/login";
    public const string ChangePasswordPath = "/account/change-password";
    public const string LogoutPath = "/account/logout";

    public static IServiceCollection AddRecsAuth(this IServiceCollection services, IConfiguration configuration)
    {
        var auth = configuration.GetSection(AuthOptions.Section).Get<AuthOptions>() ?? new AuthOptions();
        services.AddOptions<AwsOptions>().BindConfiguration(AwsOptions.Section);
        services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme)
            .AddCookie(o =>
            {
                o.LoginPath = LoginPath;
                o.LogoutPath = LogoutPath;
                o.AccessDeniedPath = "/account/denied";
                o.ReturnUrlParameter = "ReturnUrl";
                o.Cookie.Name = "recs.auth";
                o.Cookie.HttpOnly = true;
                o.Cookie.SameSite = SameSiteMode.Lax;
                o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
                o.ExpireTimeSpan = TimeSpan.FromMinutes(auth.SessionMinutes);
                o.SlidingExpiration = true;
                o.Events.OnValidatePrincipal = ValidateCookieAsync;
            })
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null)
            .AddScheme<AuthenticationSchemeOptions, SigV4AuthenticationHandler>(SigV4AuthenticationHandler.SchemeName, null);
        services.AddAuthorizationBuilder()
            // Everything without its own rule needs a signed-in account, except API paths no endpoint answers
            // (their 404 and 405 stay JSON; every real API endpoint has its own key or signature policy).
            .SetFallbackPolicy(new AuthorizationPolicyBuilder(CookieAuthenticationDefaults.AuthenticationScheme)
                .RequireAssertion(c => c.User.Identity?.IsAuthenticated == true || (c.Resource is HttpContext http && RecsApi.IsApiPath(http.Request.Path)))
                .Build())
            .AddPolicy(RecsPolicies.Viewer, p => p.RequireRole(AccountRoles.Viewer))
            .AddPolicy(RecsPolicies.Engineer, p => p.RequireRole(AccountRoles.Engineer))
            .AddPolicy(RecsPolicies.Admin, p => p.RequireRole(AccountRoles.Admin))
            .AddPolicy(RecsPolicies.ApiRead, p => p.AddAuthenticationSchemes(ApiKeyAuthenticationHandler.SchemeName).RequireClaim(RecsClaims.Scope, "read", "write"))
            .AddPolicy(RecsPolicies.ApiWrite, p => p.AddAuthenticationSchemes(ApiKeyAuthenticationHandler.SchemeName).RequireClaim(RecsClaims.Scope, "write"))
            .AddPolicy(RecsPolicies.AwsSigned, p => p.AddAuthenticationSchemes(SigV4AuthenticationHandler.SchemeName).RequireClaim(RecsClaims.AwsAccessKey));
        services.AddCascadingAuthenticationState();
        services.AddScoped<AuthenticationStateProvider, RevalidatingAccountStateProvider>();
        services.AddHostedService<InitialAdminService>();
        return services;
    }

    /// <summary>The claims of a signed-in account; each role also holds the roles below it.</summary>
    public static ClaimsPrincipal Principal(Account account)
    {
        var claims = new List<Claim>
        {
            new(RecsClaims.AccountId, account.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            new(ClaimTypes.Name, account.UserName),
            new(RecsClaims.SecurityStamp, account.SecurityStamp.ToString()),
        };
        foreach (var role in Enum.GetValues<AccountRole>().Where(r => r <= account.AccountRole))
            claims.Add(new Claim(ClaimTypes.Role, AccountRoles.Name(role)));
        if (account.MustChangePassword)
            claims.Add(new Claim(RecsClaims.MustChangePassword, "true"));
        return new ClaimsPrincipal(new ClaimsIdentity(claims, CookieAuthenticationDefaults.AuthenticationScheme));
    }

    public static Task SignInAsync(HttpContext context, Account account) =>
        context.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, Principal(account), new AuthenticationProperties { IsPersistent = false });

    /// <summary>The account still exists, is enabled, and nothing changed its password, role or status since the cookie was issued.</summary>
    internal static async Task<bool> IsCurrentAsync(ClaimsPrincipal principal, AccountService accounts, CancellationToken cancellationToken)
    {
        if (!long.TryParse(principal.FindFirstValue(RecsClaims.AccountId), out var id))
            return false;
        try
        {
            var account = await accounts.FindAsync(id, cancellationToken);
            return account is { Disabled: false } && account.SecurityStamp.ToString() == principal.FindFirstValue(RecsClaims.SecurityStamp);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            return true; // The database is briefly down: keep the session; the page will say the database is unreachable.
        }
    }

    private static async Task ValidateCookieAsync(CookieValidatePrincipalContext context)
    {
        var accounts = context.HttpContext.RequestServices.GetRequiredService<AccountService>();
        if (context.Principal is null || !await IsCurrentAsync(context.Principal, accounts, context.HttpContext.RequestAborted))
        {
            context.RejectPrincipal();
            await context.HttpContext.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        }
    }

    public static WebApplication UseRecsAuth(this WebApplication app)
    {
        app.UseAuthentication();
        app.UseAuthorization();
        // An account with a temporary password can reach only the page that changes it (and sign out).
        app.Use(async (context, next) =>
        {
            if (context.User.HasClaim(RecsClaims.MustChangePassword, "true")
                && context.GetEndpoint()?.Metadata.GetMetadata<IAllowAnonymous>() is null
                && !context.Request.Path.StartsWithSegments(ChangePasswordPath)
                && !context.Request.Path.StartsWithSegments(LogoutPath))
            {
                if (context.Request.Path.StartsWithSegments("/_blazor") || !HttpMethods.IsGet(context.Request.Method))
                {
                    context.Response.StatusCode = StatusCodes.Status403Forbidden;
                    await context.Response.WriteAsync("Change your temporary password first.");
                    return;
                }
                context.Response.Redirect($"{ChangePasswordPath}?ReturnUrl={Uri.EscapeDataString(context.Request.PathBase + context.Request.Path + context.Request.QueryString)}");
                return;
            }
            await next();
        });
        return app;
    }

    public static WebApplication MapAccountEndpoints(this WebApplication app)
    {
        // A form post (antiforgery-checked because it binds a form): GET must not sign anyone out.
        app.MapPost(LogoutPath, async (HttpContext context, [Microsoft.AspNetCore.Mvc.FromForm] string? returnUrl) =>
        {
            await context.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
            return Results.LocalRedirect($"{LoginPath}?signedOut=true");
        }).AllowAnonymous();
        return app;
    }

    /// <summary>
    /// Whether the signed-in account has <paramref name="role"/>: pages decide once what to show with it. (An
    /// AuthorizeView around a form re-checks on every render of its parent and rebuilds the form meanwhile, which
    /// loses a click or the focus.)
    /// </summary>
    public static async Task<bool> HasRoleAsync(this Task<AuthenticationState>? state, AccountRole role) =>
        state is not null && (await state).User.IsInRole(AccountRoles.Name(role));

    /// <summary>The signed-in account's name, for the audit log; throws when its role is below <paramref name="role"/>.</summary>
    public static async Task<string> RequireAsync(this Task<AuthenticationState>? state, AccountRole role)
    {
        var user = state is null ? null : (await state).User;
        if (user?.Identity?.IsAuthenticated != true || !user.IsInRole(AccountRoles.Name(role)))
            throw new UnauthorizedAccessException($"This needs the {AccountRoles.Name(role)} role; ask an admin.");
        return user.Identity.Name ?? "unknown";
    }
}

/// <summary>AWS access key pairs the AWS-compatible endpoints accept (Aws:AccessKeys:&lt;access key id&gt; = secret).</summary>
public sealed class AwsOptions
{
    public const string Section = "Aws";

    public Dictionary<string, string> AccessKeys { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The signing name the Personalize SDKs use.</summary>
    public string Service { get; set; } = "personalize";
}

/// <summary>Re-checks a circuit's account every minute, so a disabled account or a changed role ends open dashboards too.</summary>
public sealed class RevalidatingAccountStateProvider(ILoggerFactory loggerFactory, IServiceScopeFactory scopes)
    : RevalidatingServerAuthenticationStateProvider(loggerFactory)
{
    protected override TimeSpan RevalidationInterval => TimeSpan.FromMinutes(1);

    protected override async Task<bool> ValidateAuthenticationStateAsync(AuthenticationState authenticationState, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        return await RecsAuth.IsCurrentAsync(authenticationState.User, scope.ServiceProvider.GetRequiredService<AccountService>(), cancellationToken);
    }
}

/// <summary>Creates the first admin on the first start; a generated password is printed once, here.</summary>
public sealed class InitialAdminService(AccountService accounts, IOptions<AuthOptions> options, ILogger<InitialAdminService> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var password = await accounts.EnsureInitialAdminAsync(cancellationToken);
        var name = options.Value.InitialAdminUserName;
        if (password is null)
            return;
        if (password.Length == 0)
        {
            logger.LogWarning("Created the first account '{User}' (admin) with the password from Auth:InitialAdminPassword; it must be changed at first sign-in.", name);
            return;
        }
        // Printed, not logged: the one place this password ever appears.
        Console.WriteLine($"""

            ==== Recs created the first account ====
              user name: {name}
              password:  {password}
            Sign in at /account/login; you will be asked to choose a new password. This is shown only once
            (an admin can reset it later from the Accounts page, or run: recs accounts reset-password {name}).
            ========================================

            """);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
