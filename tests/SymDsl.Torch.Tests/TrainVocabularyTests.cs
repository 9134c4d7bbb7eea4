using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using SymDsl.Torch.Diagnostics;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Training;
using SymDsl.Vocabulary;
using static SymDsl.Torch.Tests.TestPrograms;
using static TorchSharp.torch;

namespace SymDsl.Torch.Tests;

/// <summary>
/// The train-block vocabulary (data sources, losses, regularizers, metrics) is defined once in SymDsl.Vocabulary: every item
/// has its run-time implementation and its docs row, no stage switches on an item's name, and no loader or measure keeps a
/// default of its own.
/// </summary>
[Collection("torch")]
public class TrainVocabularyTests
{
    static readonly string Doc = File.ReadAllText(Path.Combine(Paths.Root, "docs", "language.md"));

    /// <summary>The docs/language.md section under <paramref name="heading"/> (up to the next heading).</summary>
    static string Section(string heading)
    {
        var start = Doc.IndexOf("\n" + heading + "\n", StringComparison.Ordinal);
        Assert.True(start >= 0, $"docs/language.md has no section '{heading}'");
        var end = Doc.IndexOf("\n#", start + heading.Length + 2, StringComparison.Ordinal);
        return end < 0 ? Doc[start..] : Doc[start..end];
    }

    /// <summary>Each item has a row in the table under <paramref name="heading"/>, and the row holds the definition's docs text.</summary>
    static void HasRows<T>(string heading, IEnumerable<T> items, Func<T, string> name, Func<T, string> text)
    {
        var section = Section(heading);
        var rows = section.Split('\n').Where(l => l.StartsWith("| `", StringComparison.Ordinal)).ToList();
        var missing = items.Where(i => !rows.Any(r => r.StartsWith($"| `{name(i)}` |", StringComparison.Ordinal) && r.Contains(text(i), StringComparison.Ordinal)))
            .Select(name).ToList();
        Assert.True(missing.Count == 0, $"no row in docs/language.md '{heading}' (or not with the definition's text) for: {string.Join(", ", missing)}");
    }

    [Fact]
    public void Every_data_source_has_a_loader_and_a_docs_row()
    {
        Assert.Equal(DataSourceDefinitions.Names.Order(), Data.DataSources.Implemented.Order());
        HasRows("### Data sources", DataSourceDefinitions.All, d => d.Name, d => d.Yields);
    }

    [Fact]
    public void Every_loss_has_a_function_and_a_docs_row()
    {
        Assert.Equal(Losses.Names.Order(), LossFunctions.Implemented.Order());
        HasRows("### Losses", Losses.All, l => l.Name, l => l.Meaning);
        using var scope = NewDisposeScope();
        using var g = new Generator(7);
        var logits = randn([5, 3], generator: g);
        foreach (var loss in Losses.All)
        {
            var target = loss.NeedsLabels ? tensor(new long[] { 0, 1, 2, 1, 0 }) : randn([5, 3], generator: g);
            var value = LossFunctions.Get(loss.Name)(logits, target);
            Assert.Equal(0, value.dim());
            Assert.True(double.IsFinite(value.item<float>()) && value.item<float>() > 0, $"{loss.Name}: {value.item<float>()}");
        }
    }

    [Fact]
    public void Every_regularizer_has_a_parameterization_and_a_docs_row()
    {
        HasRows("### `break` — symmetry-breaking regularizers", Regularizers.All, r => r.Name, r => r.Does);
        foreach (var r in Regularizers.All)
        {
            using var scope = NewDisposeScope();
            var args = r.Bind(new Dictionary<string, IR.Value>());
            using var model = new SymModel(Mlp(8), [new ReparamRequest("fc1.weight", "offset", args.Double("sigma"), args.Double("decay"), Method: r.Name, Axis: 0)], seed: 3);
            var p = Assert.IsType<OffsetParameterization>(model.ParameterizationOf("fc1.weight"));
            Assert.Equal(r.Name, p.Method);
            Assert.Equal(r.DiagonalDecay, p.DecayIsPenalty);
            // θ₀ per unit: constant along each row of fc1.weight (the unit axis 0); per entry otherwise.
            var rowsConstant = p.Theta0.std(1).max().item<float>() == 0;
            Assert.Equal(r.PerUnitOffset, rowsConstant);
        }
    }

    [Fact]
    public void Every_metric_has_a_measure_and_a_docs_row()
    {
        Assert.Equal(Metrics.Names.Order(), SymmetryDiagnostics.Implemented.Order());
        HasRows("### `diagnose` — metrics", Metrics.All, m => m.Name, m => m.Measures);
    }

    [Fact]
    public void Every_docs_row_names_an_item_of_the_language()
    {
        // The other direction: the tables list nothing the language does not have.
        foreach (var (heading, names) in new (string, IEnumerable<string>)[]
        {
            ("### Data sources", DataSourceDefinitions.Names), ("### Losses", Losses.Names),
            ("### `break` — symmetry-breaking regularizers", Regularizers.Names), ("### `diagnose` — metrics", Metrics.Names),
        })
        {
            var rows = Regex.Matches(Section(heading), @"^\| `([a-z_]+)` \|", RegexOptions.Multiline).Select(m => m.Groups[1].Value).ToList();
            Assert.Equal(names.Order(), rows.Order());
        }
    }

    static IEnumerable<(string Path, SyntaxNode Root)> Sources() =>
        Directory.EnumerateFiles(Path.Combine(Paths.Root, "src"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            .Select(f => (Path.GetRelativePath(Paths.Root, f), CSharpSyntaxTree.ParseText(File.ReadAllText(f), path: f).GetRoot()));

    static readonly HashSet<string> ItemNames =
        [.. DataSourceDefinitions.Names, .. Losses.Names, .. Regularizers.Names, .. Metrics.Names];

    /// <summary>A string literal naming an item, compared with (==, !=), matched by (case, switch arm, is) a value.</summary>
    internal static List<string> NameSwitches(IEnumerable<(string Path, SyntaxNode Root)> files)
    {
        var found = new List<string>();
        foreach (var (path, root) in files)
            foreach (var literal in root.DescendantNodes().OfType<LiteralExpressionSyntax>().Where(l => l.IsKind(SyntaxKind.StringLiteralExpression)))
            {
                if (!ItemNames.Contains(literal.Token.ValueText)) continue;
                var parent = literal.Parent;
                var switches = parent is ConstantPatternSyntax or CaseSwitchLabelSyntax
                    || parent is BinaryExpressionSyntax b && (b.IsKind(SyntaxKind.EqualsExpression) || b.IsKind(SyntaxKind.NotEqualsExpression));
                if (switches) found.Add($"{path}:{literal.GetLocation().GetLineSpan().StartLinePosition.Line + 1}: \"{literal.Token.ValueText}\"");
            }
        return found;
    }

    [Fact]
    public void No_stage_switches_on_the_name_of_a_data_source_loss_regularizer_or_metric()
    {
        var found = NameSwitches(Sources());
        Assert.True(found.Count == 0, "switch on an item's name outside its definition:\n" + string.Join("\n", found));
    }

    [Fact]
    public void The_name_switch_guard_catches_what_it_should()
    {
        var text = """
            class C
            {
                int A(string k) => k switch { "teacher" => 1, _ => 0 };
                bool B(string k) => k == "cross_entropy" || k is "perturb" or "x";
                int D(string k) { switch (k) { case "collapse": return 1; } return 0; }
                string E() => "teacher";
            }
            """;
        var found = NameSwitches([("c.cs", CSharpSyntaxTree.ParseText(text).GetRoot())]);
        Assert.Equal(4, found.Count);
    }

    [Fact]
    public void No_loader_or_measure_keeps_a_default_of_its_own()
    {
        var names = DataSourceDefinitions.All.SelectMany(d => d.Arguments).Concat(Regularizers.All.SelectMany(r => r.Arguments))
            .Concat(Metrics.All.SelectMany(m => m.Arguments)).Select(a => a.Name).ToHashSet();
        // args.Double("d_in", 8)-style reads: a method of ValueArgs with a fallback, keyed by one of these argument names.
        var found = new SortedSet<string>();
        foreach (var (path, root) in Sources())
            foreach (var call in root.DescendantNodes().OfType<InvocationExpressionSyntax>())
                if (call.Expression is MemberAccessExpressionSyntax { Name.Identifier.ValueText: "Double" or "Int" or "Bool" or "Text" } access
                    // a layer's arguments (d, hidden) are the layers' definitions' business, not these
                    && !access.Expression.ToString().Contains("layer", StringComparison.OrdinalIgnoreCase)
                    && call.ArgumentList.Arguments.Count == 2
                    && call.ArgumentList.Arguments[0].Expression is LiteralExpressionSyntax l && names.Contains(l.Token.ValueText))
                    found.Add($"{path}:{call.GetLocation().GetLineSpan().StartLinePosition.Line + 1}: {call}");
        Assert.True(found.Count == 0, "a default outside the definition:\n" + string.Join("\n", found));
    }
}
