namespace Recs.Services.Models;

/// <summary>The seeded sample of users per region that batch inference precomputes and the Regions page offers by default.</summary>
public static class RegionSample
{
    public const int DefaultSeed = 1;
    public const int DefaultSize = 50;
}
