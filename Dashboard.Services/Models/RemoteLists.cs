namespace Recs.Services.Models;

/// <summary>
/// The lists a remote campaign's newest successful fetch keeps (remote_fetch_pages) after writing them to the cache: an
/// experiment's remote arm is served from them whatever the cache holds. SQL fragments taking @campaign and @arn.
/// </summary>
public static class RemoteLists
{
    /// <summary>The id of the newest successful fetch of @campaign from @arn.</summary>
    public const string LatestFetch = "select max(id) from remote_fetches where campaign = @campaign and campaign_arn = @arn and status = 'succeeded'";

    /// <summary>A table shaped like offline_user_recommendations holding that fetch's lists, stamped with the ARN and the fetch's end.</summary>
    public const string UserLists = $"""
        (select p.key_id as user_id, p.list as recommendations, f.campaign_arn as model_version, f.finished_at as updated_at
         from remote_fetch_pages p join remote_fetches f on f.id = p.fetch_id where p.fetch_id = ({LatestFetch}))
        """;
}
