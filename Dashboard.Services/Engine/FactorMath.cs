using System.Numerics.Tensors;

namespace Recs.Services.Engine;

/// <summary>Kernels shared by the factor models.</summary>
public static class FactorMath
{
    /// <summary>The items whose factor rows have the highest cosine with <paramref name="item"/>'s row (itself excluded).</summary>
    public static int CosineNeighbours(float[] factors, int f, int item, Span<int> items, Span<float> scores)
    {
        var rows = factors.Length / f;
        var target = factors.AsSpan(item * f, f);
        var targetNorm = TensorPrimitives.Norm(target);
        var all = new float[rows];
        for (var j = 0; j < rows; j++)
        {
            var y = factors.AsSpan(j * f, f);
            var norm = TensorPrimitives.Norm(y) * targetNorm;
            all[j] = j == item || norm == 0 ? float.NegativeInfinity : TensorPrimitives.Dot(target, y) / norm;
        }
        return TopK.Select(all, items, scores);
    }
}
