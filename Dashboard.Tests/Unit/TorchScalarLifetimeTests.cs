using System.Reflection;
using Recs.Services.Engine.Neural;
using TorchSharp;

namespace Recs.Tests.Unit;

/// <summary>
/// TorchSharp's <see cref="Scalar"/> (a number handed to libtorch) frees its native value in its finalizer, and
/// TorchSharp passes <c>scalar.Handle</c> to native code without keeping the Scalar alive. A temporary one — an implicit
/// conversion such as <c>t * 0.5</c> or <c>masked_fill(m, -1e9)</c>, or the hidden <c>alpha = 1</c> inside
/// <c>a + b</c> — can be finalised by a garbage collection that starts during the call, while libtorch still reads it:
/// a fresh-clone CI run failed an ncf-hybrid fit with libtorch's "Unknown scalar type" inside Adam's step, and it
/// reproduced with the unit tests running beside the neural E2E test. The window is too narrow to hit on purpose, so
/// this test reads the code instead: nothing the neural recipes run may create a Scalar it does not keep, directly or
/// inside the TorchSharp methods it calls (kept: static fields, or <c>ToScalar()</c> into a <c>using</c> local).
/// </summary>
public sealed class TorchScalarLifetimeTests
{
    private static readonly Assembly Torch = typeof(Scalar).Assembly;

    [Fact]
    public void The_neural_recipes_create_no_temporary_scalars()
    {
        var ours = typeof(NeuralTraining).Assembly.GetTypes()
            .Where(t => t.Namespace == typeof(NeuralTraining).Namespace)
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly)
                .Cast<MethodBase>().Concat(t.GetConstructors(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static)))
            .ToList();
        Assert.True(ours.Count > 50, $"only {ours.Count} methods found in the neural namespace");

        // A virtual TorchSharp method (an optimiser's step, a module's forward) is called through its base declaration:
        // follow it into the overrides of the TorchSharp types this code uses (those it calls or is handed).
        var used = ours.SelectMany(Calls).Where(c => c.DeclaringType?.Assembly == Torch)
            .SelectMany(c => new[] { c.DeclaringType!, (c as MethodInfo)?.ReturnType ?? c.DeclaringType! }).ToHashSet();
        var problems = new List<string>();
        foreach (var method in ours)
        {
            foreach (var called in Calls(method))
            {
                // Our own code may convert only where the Scalar is kept for the process (a static initialiser).
                if (IsImplicitScalar(called))
                {
                    if (method is not ConstructorInfo { IsStatic: true })
                        problems.Add($"{Name(method)} converts a number to a temporary Scalar ({Name(called)})");
                    // Creating a Scalar loads libtorch: a recipe's static fields are initialised when the catalogue
                    // reads its descriptor at start-up, so kept Scalars live in Scalars or a nested class.
                    else if (method.DeclaringType is { IsNested: false } type && type != typeof(Scalars))
                        problems.Add($"{type.Name}'s static initialiser creates a Scalar: it would load libtorch whenever {type.Name} is first touched");
                }
                else if (called.DeclaringType?.Assembly == Torch && TemporaryScalarInside(called, used, depth: 5, []) is { } path)
                    problems.Add($"{Name(method)} calls {path}");
            }
        }

        Assert.True(problems.Count == 0, string.Join("\n", problems.Distinct()));
    }

    [Fact]
    public void The_scan_finds_the_temporaries_it_looks_for()
    {
        // The check above must be able to fail: TorchSharp's own Adam step and a tensor sum make temporary Scalars.
        var step = typeof(TorchSharp.Modules.Adam).GetMethod("step", [typeof(Func<torch.Tensor>)])!;
        Assert.NotNull(TemporaryScalarInside(step, new HashSet<Type>(), depth: 5, []));
        var plus = typeof(torch.Tensor).GetMethod("op_Addition", [typeof(torch.Tensor), typeof(torch.Tensor)])!;
        Assert.NotNull(TemporaryScalarInside(plus, new HashSet<Type>(), depth: 5, []));
        var optimizerStep = typeof(torch.optim.Optimizer).GetMethod("step", [typeof(Func<torch.Tensor>)])!;
        Assert.NotNull(TemporaryScalarInside(optimizerStep, new HashSet<Type> { typeof(TorchSharp.Modules.Adam) }, depth: 5, []));
    }

    private static bool IsImplicitScalar(MethodBase m) =>
        m.DeclaringType == typeof(Scalar) && m.Name == "op_Implicit";

    /// <summary>A path to a temporary Scalar inside a TorchSharp method (within <paramref name="depth"/> calls), or null.</summary>
    private static string? TemporaryScalarInside(MethodBase method, IReadOnlySet<Type> used, int depth, HashSet<MethodBase> seen)
    {
        if (depth == 0 || !seen.Add(method) || method.DeclaringType?.Assembly != Torch)
            return null;
        foreach (var target in Overrides(method, used).Prepend(method))
        {
            foreach (var called in Calls(target))
            {
                if (IsImplicitScalar(called) || (called.DeclaringType?.Name == "ScalarExtensionMethods" && called.Name.StartsWith("To", StringComparison.Ordinal) && called.ReturnType() == typeof(Scalar)))
                    return $"{Name(target)} → {Name(called)}";
                if (TemporaryScalarInside(called, used, depth - 1, seen) is { } inner)
                    return $"{Name(target)} → {inner}";
            }
        }
        return null;
    }

    /// <summary>The overrides of a virtual method in the used types derived from its declaring type.</summary>
    private static IEnumerable<MethodBase> Overrides(MethodBase method, IReadOnlySet<Type> used)
    {
        if (method is not MethodInfo { IsVirtual: true } virtualMethod || method.DeclaringType is not { } declaring)
            yield break;
        var parameters = method.GetParameters().Select(p => p.ParameterType).ToArray();
        foreach (var type in used)
        {
            if (type == declaring || !Derives(type, declaring))
                continue;
            var candidate = type.GetMethod(method.Name, BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance, parameters);
            if (candidate is not null && candidate != virtualMethod)
                yield return candidate;
        }
    }

    private static bool Derives(Type type, Type baseType)
    {
        for (var t = type.BaseType; t is not null; t = t.BaseType)
            if (t == baseType || (t.IsGenericType && baseType.IsGenericType && t.GetGenericTypeDefinition() == baseType.GetGenericTypeDefinition()))
                return true;
        return false;
    }

    /// <summary>Every method a method's IL calls (call, callvirt, newobj, ldftn), found by reading each token.</summary>
    private static IEnumerable<MethodBase> Calls(MethodBase method)
    {
        byte[]? il;
        try
        {
            il = method.GetMethodBody()?.GetILAsByteArray();
        }
        catch (Exception e) when (e is InvalidOperationException or NotSupportedException)
        {
            yield break;
        }
        if (il is null)
            yield break;
        var typeArguments = method.DeclaringType is { IsGenericType: true } t ? t.GetGenericArguments() : null;
        var methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;
        for (var k = 0; k + 4 < il.Length; k++)
        {
            var isCall = il[k] is 0x28 or 0x6F or 0x73 || (il[k] == 0x06 && k > 0 && il[k - 1] == 0xFE);
            if (!isCall)
                continue;
            var token = BitConverter.ToInt32(il, k + 1);
            if ((token >> 24) is not (0x06 or 0x0A or 0x2B))
                continue;
            MethodBase? called;
            try
            {
                called = method.Module.ResolveMethod(token, typeArguments, methodArguments);
            }
            catch (Exception e) when (e is ArgumentException or BadImageFormatException or TypeLoadException or MissingMethodException)
            {
                continue;
            }
            if (called is not null)
                yield return called;
        }
    }

    private static string Name(MethodBase m) => $"{m.DeclaringType?.Name}.{m.Name}({string.Join(", ", m.GetParameters().Select(p => p.ParameterType.Name))})";
}

internal static class MethodBaseExtensions
{
    public static Type? ReturnType(this MethodBase m) => (m as MethodInfo)?.ReturnType;
}
