using System.Numerics.Tensors;

namespace Recs.Services.Engine.Neural;

/// <summary>
/// An embedding table trained by Adam on the rows a step used only (PyTorch's <c>SparseAdam</c>, TensorFlow's
/// <c>LazyAdam</c>): a row's moments and value change when a batch looks it up, and stay as they are otherwise. Dense
/// Adam touches every row of every table at every step (≈ 400 k values × 10 operations for Online Retail's users and
/// items); the lazy update touches at most two rows per pair of the batch. The bias correction counts the table's
/// steps, as SparseAdam does; weight decay is Adam's L2 term on the rows used.
/// The table lives in managed memory: a step copies the looked-up rows into the batch's input tensor (a leaf of the
/// graph, so libtorch's autograd gives their gradient) and applies the update here, which costs a fraction of letting
/// libtorch scatter the gradient back through an index.
/// </summary>
internal sealed class LazyAdamTable(float[] initial, int width, double learningRate, double weightDecay)
{
    private const double Beta1 = 0.9, Beta2 = 0.999, Epsilon = 1e-8;

    private readonly float[] _m = new float[initial.Length];
    private readonly float[] _v = new float[initial.Length];
    private long _steps;
    private float[] _gathered = [];
    private float[] _summed = [];

    /// <summary>The table, row after row of <see cref="Width"/> values.</summary>
    public float[] Weight { get; } = initial;

    public int Width { get; } = width;

    public double LearningRate { get; set; } = learningRate;

    /// <summary>
    /// The rows <paramref name="ids"/> names, one after another (the batch's input). The array is reused by the next
    /// call of the same length: a step's buffers are above the large-object threshold, and allocating them per step
    /// cost more than the step's arithmetic (gen-2 collections).
    /// </summary>
    public float[] Gather(long[] ids)
    {
        if (_gathered.Length != ids.Length * Width)
            _gathered = new float[ids.Length * Width];
        for (var k = 0; k < ids.Length; k++)
            Weight.AsSpan((int)ids[k] * Width, Width).CopyTo(_gathered.AsSpan(k * Width, Width));
        return _gathered;
    }

    /// <summary>
    /// One Adam step on the distinct <paramref name="rows"/> from the gradient of a gathered input
    /// (<paramref name="gradient"/>, one row per entry of <paramref name="lookup"/>, each a position in <paramref name="rows"/>).
    /// </summary>
    public void Step(long[] rows, long[] lookup, ReadOnlySpan<float> gradient)
    {
        var w = Width;
        if (_summed.Length < rows.Length * w)
            _summed = new float[lookup.Length * w];
        var summed = _summed.AsSpan(0, rows.Length * w);
        summed.Clear();
        for (var k = 0; k < lookup.Length; k++)
        {
            var target = summed.Slice((int)lookup[k] * w, w);
            TensorPrimitives.Add(target, gradient.Slice(k * w, w), target);
        }
        _steps++;
        var step = (float)(LearningRate / (1 - Math.Pow(Beta1, _steps)));
        var inverseRoot2 = (float)(1 / Math.Sqrt(1 - Math.Pow(Beta2, _steps)));
        Span<float> scratch = stackalloc float[w];
        for (var r = 0; r < rows.Length; r++)
        {
            var at = (int)rows[r] * w;
            var weight = Weight.AsSpan(at, w);
            var m = _m.AsSpan(at, w);
            var v = _v.AsSpan(at, w);
            var g = summed.Slice(r * w, w);
            if (weightDecay > 0)
                TensorPrimitives.MultiplyAdd(weight, (float)weightDecay, g, g);
            TensorPrimitives.Multiply(m, (float)Beta1, m);
            TensorPrimitives.MultiplyAdd(g, (float)(1 - Beta1), m, m);
            TensorPrimitives.Multiply(g, g, scratch);
            TensorPrimitives.Multiply(v, (float)Beta2, v);
            TensorPrimitives.MultiplyAdd(scratch, (float)(1 - Beta2), v, v);
            // w −= step · m / (√v / √(1 − β₂ᵗ) + ε)
            TensorPrimitives.Sqrt(v, scratch);
            TensorPrimitives.Multiply(scratch, inverseRoot2, scratch);
            TensorPrimitives.Add(scratch, (float)Epsilon, scratch);
            TensorPrimitives.Divide(m, scratch, scratch);
            TensorPrimitives.MultiplyAdd(scratch, -step, weight, weight);
        }
    }

    /// <summary>The distinct rows of a list of row ids and where each id sits among them (reusable, one thread).</summary>
    public sealed class Distinct(int rows)
    {
        private readonly int[] _mark = new int[rows];
        private readonly int[] _position = new int[rows];
        private int _call;

        public (long[] Rows, long[] Lookup) Of(long[] ids)
        {
            _call++;
            var distinct = new List<long>(ids.Length);
            var lookup = new long[ids.Length];
            for (var k = 0; k < ids.Length; k++)
            {
                var id = (int)ids[k];
                if (_mark[id] != _call)
                {
                    _mark[id] = _call;
                    _position[id] = distinct.Count;
                    distinct.Add(id);
                }
                lookup[k] = _position[id];
            }
            return (distinct.ToArray(), lookup);
        }
    }
}
