using Recs.Services.Engine.Neural;
using static TorchSharp.torch;

namespace Recs.Tests.Unit;

public sealed class AdamOptimizerTests
{
    [Fact]
    public void Steps_follow_Adam_with_bias_correction_and_L2_weight_decay()
    {
        TorchRuntime.Start();
        // Loss Σ aᵢ wᵢ + cᵢ wᵢ², so the gradient is aᵢ + 2 cᵢ wᵢ (+ λ wᵢ from weight decay): it changes with w, so the
        // moments matter, and for w₀ decay decides the step (without it a₀ + 2 c₀ w₀ = 0: w₀ would not move).
        float[] start = [1f, -2f, 0.5f];
        double[] a = [-1, 2, 1], c = [0.5, 1.5, -3];
        const double lr = 0.05, decay = 0.5, b1 = 0.9, b2 = 0.999, eps = 1e-8;
        using var weights = new TorchSharp.Modules.Parameter(tensor(start));
        using var linear = tensor(a.Select(x => (float)x).ToArray());
        using var coefficients = tensor(c.Select(x => (float)x).ToArray());
        using var optimizer = new AdamOptimizer([weights], lr, decay);

        var w = start.Select(x => (double)x).ToArray();
        var m = new double[3];
        var v = new double[3];
        for (var step = 1; step <= 5; step++)
        {
            using (var scope = NewDisposeScope())
            {
                var loss = (weights * linear).sum().Plus((weights * weights * coefficients).sum());
                optimizer.ZeroGrad();
                loss.backward();
                optimizer.Step();
            }
            if (step == 4)
                optimizer.LearningRate = lr / 2;
            for (var k = 0; k < 3; k++)
            {
                var g = a[k] + 2 * c[k] * w[k] + decay * w[k];
                m[k] = b1 * m[k] + (1 - b1) * g;
                v[k] = b2 * v[k] + (1 - b2) * g * g;
                var rate = step <= 4 ? lr : lr / 2;
                w[k] -= rate / (1 - Math.Pow(b1, step)) * m[k] / (Math.Sqrt(v[k]) / Math.Sqrt(1 - Math.Pow(b2, step)) + eps);
            }
            var actual = TorchRuntime.ToArray(weights);
            for (var k = 0; k < 3; k++)
                Assert.True(Math.Abs(actual[k] - w[k]) < 1e-5, $"step {step}, weight {k}: {actual[k]} vs {w[k]}");
        }
        // w₀ moved by weight decay alone, so the comparison above checked it.
        Assert.True(Math.Abs(w[0] - start[0]) > 0.1);
    }
}
