using System.Reflection;
using System.Reflection.Emit;
using Recs.Services.Models;

namespace Recs.Tests.Unit;

/// <summary>
/// The service folders' dependencies as DESIGN.md draws them, read from the compiled code (signatures and every
/// method body's IL, lambdas and async state machines included), so a reference through a fully qualified name or
/// a `var` counts as much as a `using`.
/// </summary>
public sealed class DependencyRulesTests
{
    private const string Root = "Recs.Services.";

    // What each folder may use besides itself. Pure compute first; the model layer above it; then the features.
    private static readonly Dictionary<string, string[]> Allowed = new()
    {
        ["Engine"] = [],
        ["Remote"] = [],
        ["Data"] = [],
        ["Audit"] = ["Data"],
        ["Jobs"] = ["Audit", "Data"],
        ["Security"] = ["Audit", "Data"],
        // Remote (the AWS Personalize client and its settings) is an engine too, one that runs elsewhere: the model layer
        // resolves a remote experiment arm, serving asks a remote ranking campaign live.
        ["Models"] = ["Engine", "Remote", "Data"],
        ["Ingestion"] = ["Engine", "Models", "Jobs", "Audit", "Data"],
        ["Training"] = ["Models", "Engine", "Remote", "Verdicts", "Jobs", "Audit", "Data"],
        ["Serving"] = ["Models", "Engine", "Remote", "Data"],
        ["Analytics"] = ["Models", "Engine", "Data"],
        // Verdicts replay what serving would answer (its users' histories), so they sit above it; training asks them before promoting.
        ["Verdicts"] = ["Models", "Engine", "Serving", "Audit", "Data"],
        // The shopper simulator drives the API over HTTP like any shop; it reads the demo's ground truth and mints its key.
        ["Simulation"] = ["Ingestion", "Security", "Models", "Engine", "Jobs", "Audit", "Data"],
        // The champion's health replays what serving would answer, like the verdicts.
        ["Monitoring"] = ["Models", "Engine", "Serving", "Data"],
    };

    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!).ToDictionary(o => o.Value);

    [Fact]
    public void Service_folders_depend_only_in_the_directions_the_design_allows_and_without_cycles()
    {
        var edges = Edges();
        var unknown = edges.Keys.Where(k => !Allowed.ContainsKey(k)).ToList();
        Assert.True(unknown.Count == 0, $"folders missing from the rules: {string.Join(", ", unknown)}");

        var broken = edges.SelectMany(e => e.Value.Where(to => !Allowed[e.Key].Contains(to)).Select(to => $"{e.Key} → {to}")).ToList();
        Assert.True(broken.Count == 0, "dependencies against the design: " + string.Join("; ", broken));
    }

    [Fact]
    public void The_check_sees_references_inside_method_bodies()
    {
        // Models/ModelStore uses Data/ChangeFeed only inside its methods and constructor: the check must see it.
        Assert.Contains("Data", Edges()["Models"]);
    }

    private static Dictionary<string, HashSet<string>> Edges()
    {
        var assembly = typeof(RecipeCatalog).Assembly;
        var edges = new Dictionary<string, HashSet<string>>();
        foreach (var type in assembly.GetTypes())
        {
            var from = Folder(type);
            if (from is null)
                continue;
            var set = edges.TryGetValue(from, out var s) ? s : edges[from] = [];
            foreach (var used in Referenced(type))
            {
                if (Folder(used) is { } to && to != from)
                    set.Add(to);
            }
        }
        return edges;
    }

    private static string? Folder(Type type)
    {
        var ns = type.Namespace;
        if (ns is null || !ns.StartsWith(Root, StringComparison.Ordinal))
            return null;
        return ns[Root.Length..].Split('.')[0];
    }

    private static IEnumerable<Type> Referenced(Type type)
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        if (type.BaseType is { } b) yield return b;
        foreach (var i in type.GetInterfaces()) yield return i;
        foreach (var f in type.GetFields(all)) yield return f.FieldType;
        foreach (var p in type.GetProperties(all)) yield return p.PropertyType;
        foreach (var method in type.GetMethods(all).Cast<MethodBase>().Concat(type.GetConstructors(all)))
        {
            if (method is MethodInfo mi) yield return mi.ReturnType;
            foreach (var p in method.GetParameters()) yield return p.ParameterType;
            foreach (var t in BodyReferences(method)) yield return t;
        }
    }

    private static IEnumerable<Type> BodyReferences(MethodBase method)
    {
        var il = method.GetMethodBody()?.GetILAsByteArray();
        if (il is null)
            yield break;
        var module = method.Module;
        var position = 0;
        while (position < il.Length)
        {
            short value = il[position++];
            if (value == 0xFE)
                value = (short)(0xFE00 | il[position++]);
            var code = OpCodesByValue[value];
            switch (code.OperandType)
            {
                case OperandType.InlineMethod or OperandType.InlineField or OperandType.InlineType or OperandType.InlineTok:
                    var token = BitConverter.ToInt32(il, position);
                    position += 4;
                    Type? found = null;
                    try
                    {
                        var member = module.ResolveMember(token, method.DeclaringType?.GetGenericArguments(), method.IsGenericMethod ? method.GetGenericArguments() : null);
                        found = member as Type ?? member?.DeclaringType;
                    }
                    catch (ArgumentException)
                    {
                    }
                    if (found is not null)
                        yield return found;
                    break;
                case OperandType.InlineSwitch:
                    position += 4 + 4 * BitConverter.ToInt32(il, position);
                    break;
                case OperandType.InlineNone:
                    break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar:
                    position += 1;
                    break;
                case OperandType.InlineVar:
                    position += 2;
                    break;
                case OperandType.InlineI8 or OperandType.InlineR:
                    position += 8;
                    break;
                default:
                    position += 4;
                    break;
            }
        }
    }
}
