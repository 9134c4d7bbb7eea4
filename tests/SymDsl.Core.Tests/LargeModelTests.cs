using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Text;

namespace SymDsl.Core.Tests;

/// <summary>
/// The 5,000-layer chain of the checker benchmark (bench/SymDsl.Bench; tests/Shared/LayerChain.cs) checks, with the expected result.
/// No timing here: how fast it checks is measured by the benchmark.
/// </summary>
public class LargeModelTests
{
    [Fact]
    public void Chain_of_5000_linear_layers_checks()
    {
        const int n = 5000;
        var c = Compiler.CompileText("big.sym", LayerChain.Generate(n));
        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics.Take(5)));
        var m = Assert.Single(c.Program!.Models);
        Assert.Equal(n + 1, m.Layers.Count);
        Assert.Equal(1 + 2 * n + 1, m.Nodes.Count);
        // Every hidden site has permutation and rescale (relu), none declared: one warning each.
        Assert.Equal(2 * n, m.Symmetries.Count);
        Assert.All(m.Symmetries, s => Assert.True(s.Kind is SymmetryKind.Permutation or SymmetryKind.Rescale && !s.Declared));
        Assert.Equal(2 * n, c.Diagnostics.Count(d => d.Code == "SYM0403"));
        Assert.Equal(2 * n, c.Diagnostics.Count);
        var last = m.Symmetries.Single(s => s.Kind == SymmetryKind.Permutation && s.Target == $"h{n - 1}");
        Assert.Equal([($"l{n - 1}.weight", 0, ActionRole.Forward), ($"l{n - 1}.bias", 0, ActionRole.Forward), ("out.weight", 1, ActionRole.Inverse)],
            last.Actions.Select(a => (a.Parameter, a.Axis, a.Role)));
        Assert.Equal(m.Nodes.Count - 2, m.Site($"h{n - 1}")!.Id);
        Assert.Equal("l2500", m.Layer("l2500").Name);
    }

    static NodeIR Node(int id, string? site) => new(id, OpKind.Input, [], [1], ElementType.Float32, site, new Dictionary<string, Value>(), SourceSpan.None("t"));

    static LayerIR Layer(string name, int width) => new(name, LayerKind.Linear, new Dictionary<string, Value>(),
        [new ParameterIR($"{name}.weight", [width, width], InitSpec.Default), new ParameterIR($"{name}.bias", [width], InitSpec.Default)], SourceSpan.None("t"));

    static ModelIR Model(List<NodeIR> nodes, List<LayerIR> layers)
        => new("M", new Dictionary<string, Value>(), [], layers, nodes, [], [], SourceSpan.None("t"));

    [Fact]
    public void Name_lookups_keep_their_meaning()
    {
        var nodes = new List<NodeIR> { Node(0, "a"), Node(1, null), Node(2, "a"), Node(3, "b") };
        var layers = new List<LayerIR> { Layer("fc", 2), Layer("fc", 3), Layer("g", 4) };
        var m = Model(nodes, layers);
        var copy = m with { }; // same field values; its lookup index is never built
        Assert.Equal(2, m.Site("a")!.Id);          // the last node of that name
        Assert.Null(m.Site("zz"));
        Assert.Equal(1, m.Site(null!)!.Id);        // as LastOrDefault(n => n.Site == null)
        Assert.Equal([2, 2], m.Layer("fc").Parameters[0].Shape); // the first layer of that name
        Assert.Throws<InvalidOperationException>(() => m.Layer("nope"));
        Assert.Equal("g.bias", m.Layer("g").Parameter("bias").Name);
        Assert.Throws<InvalidOperationException>(() => m.Layer("g").Parameter("nope"));

        // A list that grows after a lookup is seen by the next lookup.
        nodes.Add(Node(4, "c"));
        Assert.Equal(4, m.Site("c")!.Id);
        layers.Add(Layer("h", 1));
        Assert.Equal("h", m.Layer("h").Name);

        // Record equality and hashing do not see the lookup index.
        Assert.Equal(copy, m);
        Assert.Equal(copy.GetHashCode(), m.GetHashCode());
        Assert.Equal(2, (m with { Outputs = [] }).Site("a")!.Id);
    }
}
