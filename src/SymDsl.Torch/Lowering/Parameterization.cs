using SymDsl.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace SymDsl.Torch.Lowering;

/// <summary>
/// How one logical parameter (e.g. "fc1.weight") is obtained from the raw tensors the optimizer trains.
/// The forward code only ever asks for <see cref="Effective"/>, so features such as syre or induce can
/// reparametrise a parameter without touching the layer code.
/// Raw tensors live in a <see cref="ParamNode"/> and are looked up by name on every call, so the
/// parameterization keeps working after the module is moved with <c>.to(device/dtype)</c>.
/// </summary>
public abstract class Parameterization
{
    protected Parameterization(string logicalName, long[] shape, nn.Module owner)
    {
        LogicalName = logicalName;
        Shape = shape;
        Owner = owner;
    }

    /// <summary>The IR name, e.g. "fc1.weight".</summary>
    public string LogicalName { get; }
    public long[] Shape { get; }
    /// <summary>The module holding the raw tensors (the layer's node for Plain, a per-parameter node otherwise).</summary>
    protected nn.Module Owner { get; }
    /// <summary>"plain", "offset", "hadamard", "factorized".</summary>
    public abstract string Kind { get; }
    /// <summary>The effective parameter, differentiable w.r.t. the raw tensors. For Plain it is the live parameter itself: do not dispose it.</summary>
    public abstract Tensor Effective();
    /// <summary>Sets the raw tensors so that <see cref="Effective"/> equals <paramref name="value"/> (no gradient recorded).</summary>
    public abstract void SetEffective(Tensor value);
    /// <summary>Local names (relative to <see cref="Owner"/>) of the trainable raw tensors.</summary>
    public abstract IReadOnlyList<string> RawParameterNames { get; }

    protected TorchSharp.Modules.Parameter Raw(string local) => Owner.get_parameter(local) ?? throw new InvalidOperationException($"raw parameter {local} of {LogicalName} missing");
    protected Tensor Buffer(string local) => Owner.get_buffer(local) ?? throw new InvalidOperationException($"buffer {local} of {LogicalName} missing");

    protected void CheckShape(Tensor value)
    {
        if (!value.shape.SequenceEqual(Shape))
            throw new SymDslException($"parameter {LogicalName}: expected shape [{string.Join(", ", Shape)}], got [{string.Join(", ", value.shape)}]");
    }
}

/// <summary>P = θ, registered under the logical name itself ("fc1.weight").</summary>
public sealed class PlainParameterization : Parameterization
{
    readonly string _local;
    public PlainParameterization(string logicalName, nn.Module owner, string local, Tensor init) : base(logicalName, init.shape, owner)
    {
        _local = local;
        using var detached = init.detach();
        owner.register_parameter(local, new TorchSharp.Modules.Parameter(detached.clone(), requires_grad: true));
    }
    public override string Kind => "plain";
    public override Tensor Effective() => Raw(_local);
    public override IReadOnlyList<string> RawParameterNames => [_local];
    public override void SetEffective(Tensor value)
    {
        CheckShape(value);
        using var _ = no_grad();
        Raw(_local).copy_(value);
    }
}

/// <summary>
/// syre: P = θ + θ₀ with θ₀ ~ N(0, σ²) drawn once (torch's seeded generator) and registered as a buffer "theta0"
/// (saved in checkpoints, never trained); θ ("theta") starts at the layer's usual initialisation.
/// The weight decay on θ is applied by the trainer through a dedicated optimizer parameter group.
/// </summary>
public sealed class OffsetParameterization : Parameterization
{
    public OffsetParameterization(string logicalName, nn.Module node, Tensor init, double sigma, double decay, Generator? generator = null) : base(logicalName, init.shape, node)
    {
        Sigma = sigma;
        Decay = decay;
        using var detached = init.detach();
        node.register_parameter("theta", new TorchSharp.Modules.Parameter(detached.clone(), requires_grad: true));
        var theta0 = torch.randn(init.shape, dtype: init.dtype, device: init.device, generator: generator).mul_(sigma);
        node.register_buffer("theta0", theta0, persistent: true);
    }
    public double Sigma { get; }
    public double Decay { get; }
    public override string Kind => "offset";
    public Tensor Theta => Raw("theta");
    public Tensor Theta0 => Buffer("theta0");
    public override Tensor Effective() => Raw("theta") + Buffer("theta0");
    public override IReadOnlyList<string> RawParameterNames => ["theta"];
    public override void SetEffective(Tensor value)
    {
        CheckShape(value);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        Raw("theta").copy_(value - Buffer("theta0"));
    }
}

/// <summary>
/// induce sparsity: P = u ⊙ v. Initialised (and set) as u = sign(P)·sqrt|P|, v = sqrt|P|, so the effective P starts
/// at the layer's usual initialisation and the factors are balanced.
/// </summary>
public sealed class HadamardParameterization : Parameterization
{
    public HadamardParameterization(string logicalName, nn.Module node, Tensor init) : base(logicalName, init.shape, node)
    {
        using var scope = NewDisposeScope();
        var (u, v) = Split(init);
        node.register_parameter("u", new TorchSharp.Modules.Parameter(u.MoveToOuterDisposeScope(), requires_grad: true));
        node.register_parameter("v", new TorchSharp.Modules.Parameter(v.MoveToOuterDisposeScope(), requires_grad: true));
    }
    static (Tensor u, Tensor v) Split(Tensor p)
    {
        var mag = p.detach().abs().sqrt();
        return (p.detach().sign() * mag, mag.clone());
    }
    public override string Kind => "hadamard";
    public override Tensor Effective() => Raw("u") * Raw("v");
    public override IReadOnlyList<string> RawParameterNames => ["u", "v"];
    public override void SetEffective(Tensor value)
    {
        CheckShape(value);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var (u, v) = Split(value);
        Raw("u").copy_(u);
        Raw("v").copy_(v);
    }
}

/// <summary>
/// induce lowrank: P = U Vᵀ for a matrix P [m, n]; U [m, r], V [n, r], r = min(m, n) unless the induce clause says
/// <c>rank</c>. Initialised (and set) from the SVD P = A S Bᵀ: U = A_r √S_r, V = B_r √S_r (balanced, exact at full rank).
/// </summary>
public sealed class FactorizedParameterization : Parameterization
{
    public FactorizedParameterization(string logicalName, nn.Module node, Tensor init, int? rank) : base(logicalName, init.shape, node)
    {
        if (init.dim() != 2)
            throw new SymDslException($"induce lowrank on {logicalName}: the parameter must be a matrix, its shape is [{string.Join(", ", init.shape)}]");
        var full = (int)Math.Min(init.shape[0], init.shape[1]);
        Rank = rank is { } r ? r : full;
        if (Rank < 1 || Rank > full)
            throw new SymDslException($"induce lowrank on {logicalName}: rank must be in 1..{full}, got {Rank}");
        using var scope = NewDisposeScope();
        var (u, v) = Split(init, Rank);
        node.register_parameter("U", new TorchSharp.Modules.Parameter(u.MoveToOuterDisposeScope(), requires_grad: true));
        node.register_parameter("V", new TorchSharp.Modules.Parameter(v.MoveToOuterDisposeScope(), requires_grad: true));
    }
    public int Rank { get; }
    static (Tensor u, Tensor v) Split(Tensor p, int rank)
    {
        var (a, s, bh) = linalg.svd(p.detach(), fullMatrices: false);
        var root = s[..rank].sqrt();
        var u = a[.., ..rank] * root.unsqueeze(0);
        var v = bh[..rank, ..].t() * root.unsqueeze(0);
        return (u.contiguous(), v.contiguous());
    }
    public override string Kind => "factorized";
    public override Tensor Effective() => Raw("U").matmul(Raw("V").t());
    public override IReadOnlyList<string> RawParameterNames => ["U", "V"];
    public override void SetEffective(Tensor value)
    {
        CheckShape(value);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var (u, v) = Split(value, Rank);
        Raw("U").copy_(u);
        Raw("V").copy_(v);
    }
}

/// <summary>A plain container module: raw parameters, buffers and child nodes registered by name.</summary>
public sealed class ParamNode : nn.Module
{
    public ParamNode(string name) : base(name) { }
}
