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

    /// <summary>Solves A x = b for a symmetric positive-definite n × n matrix (row-major) by Cholesky; A is overwritten.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static double[] SolveSymmetricPositiveDefinite(double[] a, double[] b, int n)
    {
        // A = L Lᵀ, L stored in the lower triangle of a.
        for (var j = 0; j < n; j++)
        {
            var d = a[j * n + j];
            for (var k = 0; k < j; k++)
                d -= a[j * n + k] * a[j * n + k];
            if (d <= 0)
                throw new ArithmeticException("The matrix is not positive definite.");
            d = Math.Sqrt(d);
            a[j * n + j] = d;
            for (var i = j + 1; i < n; i++)
            {
                var s = a[i * n + j];
                for (var k = 0; k < j; k++)
                    s -= a[i * n + k] * a[j * n + k];
                a[i * n + j] = s / d;
            }
        }
        var x = (double[])b.Clone();
        for (var i = 0; i < n; i++)
        {
            for (var k = 0; k < i; k++)
                x[i] -= a[i * n + k] * x[k];
            x[i] /= a[i * n + i];
        }
        for (var i = n - 1; i >= 0; i--)
        {
            for (var k = i + 1; k < n; k++)
                x[i] -= a[k * n + i] * x[k];
            x[i] /= a[i * n + i];
        }
        return x;
    }
}
