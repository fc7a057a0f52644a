namespace Recs.Tests.E2E;

/// <summary>Where things are, found from the test assembly's folder (…/Dashboard.Tests/bin/{Configuration}/net10.0).</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string Configuration => new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/')).Parent!.Name;

    public static string DashboardProject => Path.Combine(Root, "Dashboard");

    public static string DashboardDll => Path.Combine(DashboardProject, "bin", Configuration, "net10.0", "Dashboard.dll");

    public static string Screenshots
    {
        get
        {
            var dir = Path.Combine(Root, "artifacts", "screenshots");
            Directory.CreateDirectory(dir);
            return dir;
        }
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Recs.sln")))
                return dir.FullName;
        }
        throw new InvalidOperationException($"Recs.sln not found above {AppContext.BaseDirectory}");
    }
}
