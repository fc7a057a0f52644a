using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Amazon.Runtime.Internal.Auth;

namespace Recs.Tests.Api;

/// <summary>
/// Signs a JSON POST the way the AWS SDKs do (SigV4, headers host;x-amz-date, body hash), for tests that call the
/// AWS-compatible endpoints from .NET. The signature itself comes from AWSSDK.Core's signer.
/// </summary>
public static class AwsRequestSigner
{
    public static HttpRequestMessage SignedPost(Uri baseAddress, string path, string json, string accessKeyId, string secret,
        DateTime? at = null, string region = "eu-west-1", string service = "personalize")
    {
        var signedAt = at ?? DateTime.UtcNow;
        var amzDate = signedAt.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var uri = new Uri(baseAddress, path);
        var host = uri.IsDefaultPort ? uri.Host : $"{uri.Host}:{uri.Port}";
        var bodyHash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(json)));
        var canonical = $"POST\n{uri.AbsolutePath}\n\nhost:{host}\nx-amz-date:{amzDate}\n\nhost;x-amz-date\n{bodyHash}";
        var signature = AWS4Signer.ComputeSignature(accessKeyId, secret, region, signedAt, service, "host;x-amz-date", canonical).Signature;
        var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Host = host;
        request.Headers.Add("X-Amz-Date", amzDate);
        request.Headers.TryAddWithoutValidation("Authorization",
            $"AWS4-HMAC-SHA256 Credential={accessKeyId}/{amzDate[..8]}/{region}/{service}/aws4_request, SignedHeaders=host;x-amz-date, Signature={signature}");
        return request;
    }
}
