using TorchSharp;

namespace SymDsl.Torch.Tests;

public class TorchLoadsTests
{
    [Fact]
    public void Native_library_loads_and_computes()
    {
        using var a = torch.ones(3, 3);
        using var b = a.matmul(a);
        Assert.Equal(27f, b.sum().item<float>());
    }
}
