using SymDsl.Torch.Runtime;
using static TorchSharp.torch;

namespace SymDsl.Torch.Tests.Runtime;

public class GradientProbeTests
{
    [Fact]
    public void Says_whether_the_gradient_is_defined_through_libtorchsharp_itself_and_leaks_nothing()
    {
        using var scope = NewDisposeScope();
        var w = randn(3, 4).requires_grad_(true);
        Assert.False(GradientProbe.HasGradient(w)); // never backpropagated
        (w * w).sum().backward();
        Assert.True(GradientProbe.HasGradient(w));
        using (var g = w.grad) Assert.Equal(2 * w.detach(), g!); // the gradient itself is untouched by probing
        w.grad = null;
        Assert.False(GradientProbe.HasGradient(w));
        Assert.True(GradientProbe.Native, "LibTorchSharp's THSTensor_grad / THSTensor_dispose were not found: every probe takes the slow .grad path");
    }

    [Fact]
    public void Probing_makes_no_managed_tensor()
    {
        // Counted in this thread's dispose scope (every tensor TorchSharp makes here registers in it): Tensor.TotalCount
        // is process-wide, and tests on other threads move it.
        using var outer = NewDisposeScope();
        var w = randn(8).requires_grad_(true);
        (w * 3).sum().backward();
        using var scope = NewDisposeScope();
        for (var i = 0; i < 1000; i++) Assert.True(GradientProbe.HasGradient(w));
        Assert.Equal(0, scope.DisposablesCount);
        var g = w.grad; // the same scope does count the tensor TorchSharp's .grad makes
        Assert.Equal(1, scope.DisposablesCount);
        g!.Dispose();
    }
}
