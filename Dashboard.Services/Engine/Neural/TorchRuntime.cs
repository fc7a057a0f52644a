using System.Runtime.InteropServices;
using TorchSharp;

namespace Recs.Services.Engine.Neural;

/// <summary>
/// The one place that starts libtorch (TorchSharp). Nothing touches <c>torch</c> before a neural recipe fits, so the
/// native library (≈0.5 GB mapped) is loaded only then: start-up, serving and the other recipes never load it. Neural
/// models serve from plain arrays (see each recipe's Score), so serving never loads it either.
/// </summary>
public static class TorchRuntime
{
    private static readonly Lock Gate = new();
    private static bool _started;

    /// <summary>Intra-op threads by default: one per core.</summary>
    public static int Threads => Math.Max(1, Environment.ProcessorCount);

    /// <summary>Whether libtorch has been loaded in this process (for tests and diagnostics).</summary>
    public static bool Loaded => _started;

    /// <summary>
    /// Loads libtorch once, with as many intra-op threads as the machine has cores (both here) and MKL in its
    /// conditional-numerical-reproducibility mode, so a seed gives the same model on the same machine.
    /// </summary>
    public static void Start()
    {
        lock (Gate)
        {
            if (_started)
                return;
            // Read by MKL and OpenMP when libtorch loads, from the C environment (Environment.SetEnvironmentVariable does not
            // reach it): MKL's reproducible mode, and OpenMP threads that sleep rather than spin at barriers (spinning
            // threads starve each other when the machine is busy: 20x slower steps measured at load 30 on 2 cores).
            if (OperatingSystem.IsLinux())
            {
                _ = SetEnv("MKL_CBWR", "COMPATIBLE", 0);
                _ = SetEnv("OMP_WAIT_POLICY", "PASSIVE", 0);
            }
            torch.set_num_threads(Threads);
            torch.set_num_interop_threads(1);
            _started = true;
        }
    }

    [DllImport("libc", EntryPoint = "setenv", CharSet = CharSet.Ansi)]
    private static extern int SetEnv(string name, string value, int overwrite);

    /// <summary>A tensor's values as a new array.</summary>
    public static float[] ToArray(torch.Tensor tensor)
    {
        // The raw bytes, not data<float>().ToArray(): that one walks the elements one by one (≈ 20 ns each, measured).
        using var detached = tensor.detach();
        using var contiguous = detached.contiguous();
        return MemoryMarshal.Cast<byte, float>(contiguous.bytes).ToArray();
    }

    /// <summary>A contiguous float tensor's values copied into <paramref name="destination"/> (no allocation).</summary>
    public static void CopyTo(torch.Tensor tensor, Span<float> destination) =>
        MemoryMarshal.Cast<byte, float>(tensor.bytes).CopyTo(destination);

    /// <summary>Writes <paramref name="values"/> into a parameter without recording a gradient.</summary>
    public static void Assign(torch.Tensor parameter, float[] values)
    {
        using var _ = torch.no_grad();
        using var source = torch.tensor(values, parameter.shape);
        parameter.copy_(source);
    }

    /// <summary>Fills <paramref name="weights"/> (outputs × inputs) with Glorot-uniform draws from our generator.</summary>
    public static void Glorot(int inputs, int outputs, SeededRandom rng, Span<float> weights)
    {
        var limit = Math.Sqrt(6.0 / (inputs + outputs));
        for (var k = 0; k < weights.Length; k++)
            weights[k] = (float)((rng.NextDouble() * 2 - 1) * limit);
    }

    /// <summary>Glorot-uniform weights and zero biases from our own generator (so the seed alone fixes the start).</summary>
    public static void Initialise(TorchSharp.Modules.Linear layer, SeededRandom rng)
    {
        var shape = layer.weight!.shape;
        var (outputs, inputs) = ((int)shape[0], (int)shape[1]);
        var w = new float[outputs * inputs];
        Glorot(inputs, outputs, rng, w);
        Assign(layer.weight, w);
        if (layer.bias is { } bias)
            Assign(bias, new float[outputs]);
    }
}
