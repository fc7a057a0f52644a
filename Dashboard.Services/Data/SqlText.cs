namespace Recs.Services.Data;

/// <summary>Typed text made safe to compare in SQL (as Dapper parameters, never spliced into the statement).</summary>
public static class SqlText
{
    /// <summary>Trimmed, without NUL characters (PostgreSQL text cannot hold them; a browser cannot type them).</summary>
    public static string Clean(string text) => text.Replace("\0", "", StringComparison.Ordinal).Trim();

    /// <summary>The typed text as a literal inside ILIKE: % and _ are what the user typed, not wildcards.</summary>
    public static string LikePattern(string text) =>
        Clean(text).Replace("\\", "\\\\", StringComparison.Ordinal).Replace("%", "\\%", StringComparison.Ordinal).Replace("_", "\\_", StringComparison.Ordinal);
}
