using SymDsl.Diagnostics;

namespace SymDsl.Core.Tests;

/// <summary>One mistake, one error: a site whose definition failed is not reported again where it is used.</summary>
public class CascadeTests
{
    [Theory]
    [InlineData("h = relu(fc1(x)\n", "SYM0101", 6)]        // syntax error: the missing ')' is noticed at the next line
    [InlineData("h = relu(fc1(fc1(x)))\n", "SYM0301", 5)]  // shape error in the definition of h
    public void A_failed_site_definition_is_reported_once(string definition, string code, int line)
    {
        string text = "model M {\n    input x: [4]\n    layer fc1 = Linear(4, 8)\n    layer fc2 = Linear(8, 3)\n    "
            + definition + "    output y = fc2(h)\n    symmetry p : permutation(h)\n    symmetry s : rescale(h)\n}\n";
        var errors = Compiler.CompileText("m.sym", text).Diagnostics.Where(d => d.Level == DiagnosticLevel.Error).ToList();
        var error = Assert.Single(errors);
        Assert.Equal(code, error.Code);
        Assert.Equal(line, error.Span.Line);
    }

    [Fact]
    public void A_symmetry_at_a_name_that_was_never_defined_is_still_an_error()
    {
        var text = "model M {\n    input x: [4]\n    layer fc1 = Linear(4, 3)\n    output y = fc1(x)\n    symmetry p : permutation(hh)\n}\n";
        var error = Assert.Single(Compiler.CompileText("m.sym", text).Diagnostics, d => d.Level == DiagnosticLevel.Error);
        Assert.Equal("SYM0202", error.Code);
    }
}
