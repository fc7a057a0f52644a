namespace Recs.Services.Engine;

/// <summary>
/// Attributes of users and items as sparse feature matrices over the same dense indices as the interactions:
/// row = user (item), column = feature (e.g. <c>region=North</c>), value = the feature's weight (1 for a plain attribute).
/// </summary>
public sealed record SideFeatures(CsrMatrix UserFeatures, CsrMatrix ItemFeatures, string[] UserFeatureNames, string[] ItemFeatureNames)
{
    /// <summary>No attributes for <paramref name="users"/> users and <paramref name="items"/> items.</summary>
    public static SideFeatures None(int users, int items) => new(OneHot(users).Matrix, OneHot(items).Matrix, [], []);

    /// <summary>
    /// One-hot features from categorical columns: each (column, value) pair met becomes the feature
    /// <c>column=value</c> (in order of first appearance), weight 1; null or empty values give no feature.
    /// </summary>
    public static (CsrMatrix Matrix, string[] Names) OneHot(int rows, params (string Column, string?[] Values)[] columns)
    {
        var names = new List<string>();
        var index = new Dictionary<string, int>();
        var row = new List<int>();
        var column = new List<int>();
        foreach (var (name, values) in columns)
        {
            if (values.Length != rows)
                throw new ArgumentException($"Column '{name}' has {values.Length} values for {rows} rows.");
            for (var r = 0; r < rows; r++)
            {
                if (string.IsNullOrEmpty(values[r]))
                    continue;
                var feature = $"{name}={values[r]}";
                if (!index.TryGetValue(feature, out var f))
                {
                    index[feature] = f = names.Count;
                    names.Add(feature);
                }
                row.Add(r);
                column.Add(f);
            }
        }
        var ones = new float[row.Count];
        Array.Fill(ones, 1f);
        return (CsrMatrix.FromTriples(rows, names.Count, row.ToArray(), column.ToArray(), ones), names.ToArray());
    }

    /// <summary>Throws unless the matrices have one row per user and item and one name per column.</summary>
    public void Check(int users, int items)
    {
        if (UserFeatures.Rows != users || ItemFeatures.Rows != items)
            throw new ArgumentException($"Side features cover {UserFeatures.Rows} users and {ItemFeatures.Rows} items; the interactions have {users} and {items}.");
        if (UserFeatureNames.Length != UserFeatures.Columns || ItemFeatureNames.Length != ItemFeatures.Columns)
            throw new ArgumentException("Side features need one name per feature column.");
    }
}
