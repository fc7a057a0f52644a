using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Amazon.Runtime.Internal.Auth;

namespace Recs.Services.Security;

/// <summary>A request as SigV4 sees it: method, the path and query as sent on the wire, headers, and the body's SHA-256.</summary>
public sealed record SignedRequest(string Method, string RawPath, string RawQuery, IReadOnlyList<KeyValuePair<string, string>> Headers, byte[] BodySha256);

/// <summary>Why a request was refused, with the AWS error type an SDK recognises.</summary>
public sealed record SigV4Failure(int Status, string ErrorType, string Message);

/// <summary>
/// Verifies AWS Signature Version 4 (the Authorization header form the SDKs send) against configured access key
/// pairs: rebuilds the canonical request from what arrived, has AWSSDK.Core's signer compute the signature with
/// the pair's secret, and compares in fixed time. The signature covers the body's hash, the method, path, query
/// and every signed header, and the X-Amz-Date must be within <see cref="MaxClockSkew"/> of now (replay window).
/// </summary>
public static class SigV4
{
    public const string Algorithm = "AWS4-HMAC-SHA256";
    public static readonly TimeSpan MaxClockSkew = TimeSpan.FromMinutes(15);

    /// <summary>The access key that signed the request, or why it is refused.</summary>
    public static (string? AccessKeyId, SigV4Failure? Failure) Verify(SignedRequest request, IReadOnlyDictionary<string, string> secrets, string service, DateTimeOffset now)
    {
        string? Header(string name)
        {
            var values = request.Headers.Where(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Select(h => h.Value).ToList();
            return values.Count == 0 ? null : string.Join(",", values);
        }

        var authorization = Header("Authorization");
        if (string.IsNullOrEmpty(authorization))
            return Fail(403, "MissingAuthenticationTokenException", "The request is not signed: sign it with AWS Signature Version 4 using an access key configured in Recs (Aws:AccessKeys).");
        if (!authorization.StartsWith(Algorithm + " ", StringComparison.Ordinal))
            return Fail(400, "IncompleteSignatureException", $"Only {Algorithm} signatures are accepted.");
        var parts = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in authorization[(Algorithm.Length + 1)..].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=', 2)).Where(p => p.Length == 2))
        {
            if (!parts.TryAdd(part[0], part[1]))
                return Fail(400, "IncompleteSignatureException", $"The Authorization header gives {part[0]} twice.");
        }
        if (!parts.TryGetValue("Credential", out var credential) || !parts.TryGetValue("SignedHeaders", out var signedHeaders) || !parts.TryGetValue("Signature", out var signature))
            return Fail(400, "IncompleteSignatureException", "The Authorization header needs Credential, SignedHeaders and Signature.");
        var scope = credential.Split('/');
        if (scope.Length != 5 || scope[4] != "aws4_request")
            return Fail(400, "IncompleteSignatureException", "The credential must be ACCESS_KEY/DATE/REGION/SERVICE/aws4_request.");
        var (accessKeyId, date, region, signedService) = (scope[0], scope[1], scope[2], scope[3]);
        if (!secrets.TryGetValue(accessKeyId, out var secret))
            return Fail(403, "UnrecognizedClientException", $"The access key {accessKeyId} is not one Recs knows (Aws:AccessKeys).");
        if (signedService != service)
            return Fail(403, "InvalidSignatureException", $"The request is signed for the service '{signedService}', not '{service}'.");
        var amzDate = Header("X-Amz-Date");
        if (amzDate is null || !DateTime.TryParseExact(amzDate, "yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture,
                DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var signedAt))
            return Fail(400, "IncompleteSignatureException", "The request needs an X-Amz-Date header (yyyyMMddTHHmmssZ).");
        if (date != amzDate[..8])
            return Fail(403, "InvalidSignatureException", "The credential's date differs from X-Amz-Date.");
        if ((now.UtcDateTime - signedAt).Duration() > MaxClockSkew)
            return Fail(403, "InvalidSignatureException", $"Signature expired: signed at {amzDate}, which is more than {MaxClockSkew.TotalMinutes:0} minutes from the server's time {now.UtcDateTime:yyyyMMdd'T'HHmmss'Z'}.");
        var headerNames = signedHeaders.Split(';');
        if (!headerNames.Contains("host") || headerNames.Any(n => n.Length == 0 || n != n.ToLowerInvariant()))
            return Fail(403, "InvalidSignatureException", "SignedHeaders must be lower-case and include host.");
        var bodyHash = Convert.ToHexStringLower(request.BodySha256);
        if (Header("X-Amz-Content-Sha256") is { } claimed && !string.Equals(claimed, bodyHash, StringComparison.OrdinalIgnoreCase))
            return Fail(400, "InvalidSignatureException", "X-Amz-Content-Sha256 does not match the body.");

        var canonicalHeaders = new StringBuilder();
        foreach (var name in headerNames.OrderBy(n => n, StringComparer.Ordinal))
        {
            var value = Header(name);
            if (value is null)
                return Fail(403, "InvalidSignatureException", $"The signed header {name} is missing from the request.");
            canonicalHeaders.Append(name).Append(':').Append(CollapseSpaces(value)).Append('\n');
        }
        var canonicalRequest = string.Join('\n',
            request.Method.ToUpperInvariant(),
            CanonicalPath(request.RawPath),
            CanonicalQuery(request.RawQuery),
            canonicalHeaders.ToString(),
            string.Join(';', headerNames.OrderBy(n => n, StringComparer.Ordinal)),
            bodyHash);
        var expected = AWS4Signer.ComputeSignature(accessKeyId, secret, region, signedAt, service, signedHeaders, canonicalRequest).Signature;
        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(signature.ToLowerInvariant())))
            return Fail(403, "InvalidSignatureException", "The request signature we calculated does not match the signature you provided. Check your AWS secret access key and signing method.");
        return (accessKeyId, null);
    }

    private static (string?, SigV4Failure?) Fail(int status, string type, string message) => (null, new SigV4Failure(status, type, message));

    /// <summary>The path as sent, each segment URI-encoded once more (SigV4 for every service but S3), dot segments resolved.</summary>
    internal static string CanonicalPath(string rawPath)
    {
        var segments = new List<string>();
        foreach (var segment in rawPath.Split('/'))
        {
            if (segment.Length == 0 || segment == ".")
                continue;
            if (segment == "..")
            {
                if (segments.Count > 0)
                    segments.RemoveAt(segments.Count - 1);
                continue;
            }
            segments.Add(segment);
        }
        var path = "/" + string.Join('/', segments.Select(Encode)) + (segments.Count > 0 && rawPath.EndsWith('/') ? "/" : "");
        return path;
    }

    /// <summary>Query parameters decoded, re-encoded strictly, sorted by name then value.</summary>
    internal static string CanonicalQuery(string rawQuery)
    {
        var query = rawQuery.StartsWith('?') ? rawQuery[1..] : rawQuery;
        if (query.Length == 0)
            return "";
        return string.Join('&', query.Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2))
            .Select(p => (Key: Encode(Uri.UnescapeDataString(p[0].Replace('+', ' '))), Value: Encode(p.Length > 1 ? Uri.UnescapeDataString(p[1].Replace('+', ' ')) : "")))
            .OrderBy(p => p.Key, StringComparer.Ordinal).ThenBy(p => p.Value, StringComparer.Ordinal)
            .Select(p => $"{p.Key}={p.Value}"));
    }

    /// <summary>RFC 3986 encoding: everything but A-Z a-z 0-9 - _ . ~ as %XX of its UTF-8 bytes.</summary>
    private static string Encode(string s)
    {
        var builder = new StringBuilder(s.Length);
        foreach (var b in Encoding.UTF8.GetBytes(s))
        {
            var c = (char)b;
            if (c is (>= 'A' and <= 'Z') or (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '_' or '.' or '~')
                builder.Append(c);
            else
                builder.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
        }
        return builder.ToString();
    }

    private static string CollapseSpaces(string value)
    {
        var trimmed = value.Trim();
        var builder = new StringBuilder(trimmed.Length);
        var space = false;
        foreach (var c in trimmed)
        {
            if (c == ' ')
            {
                if (!space)
                    builder.Append(c);
                space = true;
            }
            else
            {
                builder.Append(c);
                space = false;
            }
        }
        return builder.ToString();
    }
}
