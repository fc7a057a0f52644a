using TorchSharp;
using static TorchSharp.torch;

namespace Recs.Services.Engine.Neural;

/// <summary>
/// Numbers handed to libtorch, kept alive while libtorch reads them. TorchSharp's <see cref="Scalar"/> frees its native
/// value in its finalizer, and TorchSharp passes <c>scalar.Handle</c> to native code without keeping the Scalar alive,
/// so a temporary one — an implicit conversion such as <c>t * 0.5</c>, or the hidden <c>alpha = 1</c> inside
/// <c>a + b</c> — can be finalised by a garbage collection that starts during the call while libtorch still reads it
/// (libtorch then fails with "Unknown scalar type", or silently reads another number). Seen in a CI run under load, in
/// TorchSharp's own Adam step. So the neural code uses these (static: alive for the process; at::Scalar is immutable,
/// so sharing them across threads is fine), or <c>using var s = value.ToScalar()</c> for a value known at run time.
/// <c>TorchScalarLifetimeTests</c> reads the neural code and fails on any temporary Scalar, ours or TorchSharp's.
/// </summary>
internal static class Scalars
{
    public static readonly Scalar Zero = 0, One = 1;

    /// <summary><c>a + b</c> without TorchSharp's temporary alpha.</summary>
    public static Tensor Plus(this Tensor a, Tensor b) => a.add(b, One);

    /// <summary><c>a × value</c> with the number kept until libtorch has read it.</summary>
    public static Tensor Times(this Tensor a, double value)
    {
        using var s = value.ToScalar();
        return a.mul(s);
    }

    /// <summary><c>a ÷ value</c> with the number kept until libtorch has read it.</summary>
    public static Tensor Over(this Tensor a, double value)
    {
        using var s = value.ToScalar();
        return a.div(s);
    }

    /// <summary><c>a − value</c> with the number kept until libtorch has read it.</summary>
    public static Tensor Minus(this Tensor a, double value)
    {
        using var s = value.ToScalar();
        return a.sub(s);
    }
}

/// <summary>
/// Adam (Kingma and Ba), as PyTorch's <c>torch.optim.Adam</c> computes it (L2 weight decay added to the gradient, no
/// AMSGrad): TorchSharp's own step converts its β's, ε and step size to temporary Scalars at every step (see
/// <see cref="Scalars"/>); this one keeps them.
/// </summary>
internal sealed class AdamOptimizer : IDisposable
{
    private readonly TorchSharp.Modules.Parameter[] _parameters;
    private readonly Tensor[] _m;
    private readonly Tensor[] _v;
    private readonly double _beta1, _beta2;
    private readonly Scalar _beta1Scalar, _oneMinusBeta1, _beta2Scalar, _oneMinusBeta2, _epsilon, _weightDecay;
    private readonly bool _decay;
    private long _steps;

    public AdamOptimizer(IEnumerable<TorchSharp.Modules.Parameter> parameters, double learningRate, double weightDecay = 0, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8)
    {
        _parameters = parameters.ToArray();
        using (no_grad())
        {
            _m = _parameters.Select(p => zeros_like(p).DetachFromDisposeScope()).ToArray();
            _v = _parameters.Select(p => zeros_like(p).DetachFromDisposeScope()).ToArray();
        }
        LearningRate = learningRate;
        (_beta1, _beta2) = (beta1, beta2);
        (_beta1Scalar, _oneMinusBeta1, _beta2Scalar, _oneMinusBeta2) = (beta1.ToScalar(), (1 - beta1).ToScalar(), beta2.ToScalar(), (1 - beta2).ToScalar());
        _epsilon = epsilon.ToScalar();
        _weightDecay = weightDecay.ToScalar();
        _decay = weightDecay != 0;
    }

    public double LearningRate { get; set; }

    public void ZeroGrad()
    {
        foreach (var p in _parameters)
        {
            using var grad = p.grad;
            grad?.zero_();
        }
    }

    public void Step()
    {
        _steps++;
        var biasCorrection1 = 1 - Math.Pow(_beta1, _steps);
        var biasCorrection2 = 1 - Math.Pow(_beta2, _steps);
        using var stepSize = (-LearningRate / biasCorrection1).ToScalar();
        using var root = Math.Sqrt(biasCorrection2).ToScalar();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        for (var k = 0; k < _parameters.Length; k++)
        {
            var p = _parameters[k];
            var grad = p.grad;
            if (grad is null)
                continue;
            if (_decay)
                grad = grad.add(p, _weightDecay);
            _m[k].mul_(_beta1Scalar).add_(grad, _oneMinusBeta1);
            _v[k].mul_(_beta2Scalar).addcmul_(grad, grad, _oneMinusBeta2);
            var denominator = _v[k].sqrt().div_(root).add_(_epsilon, Scalars.One);
            p.addcdiv_(_m[k], denominator, stepSize);
        }
    }

    public void Dispose()
    {
        foreach (var t in _m.Concat(_v))
            t.Dispose();
        foreach (var s in new[] { _beta1Scalar, _oneMinusBeta1, _beta2Scalar, _oneMinusBeta2, _epsilon, _weightDecay })
            s.Dispose();
    }
}
