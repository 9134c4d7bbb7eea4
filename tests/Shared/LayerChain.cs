using System.Text;

namespace SymDsl.Tests;

/// <summary>
/// A generated .sym model: a chain of <c>count</c> Linear+ReLU layers. The checker benchmark (bench/) times it;
/// a Core test checks that it compiles with the expected result. Linked into both from tests/Shared.
/// </summary>
internal static class LayerChain
{
    public static string Generate(int count)
    {
        var sb = new StringBuilder("// A chain of ").Append(count).Append(" Linear layers.\nmodel Big(width: int = 8) {\n    input x: [width]\n");
        string prev = "x";
        for (int i = 0; i < count; i++)
        {
            sb.Append("    layer l").Append(i).Append(" = Linear(width, width)\n");
            sb.Append("    h").Append(i).Append(" = relu(l").Append(i).Append('(').Append(prev).Append("))\n");
            prev = "h" + i;
        }
        sb.Append("    layer out = Linear(width, 2)\n    output y = out(").Append(prev).Append(")\n}\n");
        return sb.ToString();
    }
}
