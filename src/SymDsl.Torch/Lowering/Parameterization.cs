using SymDsl.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;
using SymDsl.Torch.Runtime;

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

    /// <summary>The dtype of the first raw tensor (all raw tensors of a model share it).</summary>
    internal ScalarType RawDType => Raw(RawParameterNames[0]).dtype;

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
/// The symmetry breakers that add a fixed offset: P = θ + θ₀ with θ₀ a buffer "theta0" (saved in checkpoints, never
/// trained) drawn once from the model's generator, and weight decay on θ.
/// <list type="bullet">
/// <item><c>syre</c>: θ₀ ~ N(0, σ²) per entry; decay through the optimizer (weight_decay = decay on θ, PyTorch convention: gradient += decay·θ).</item>
/// <item><c>perturb</c> (permutation): one offset per unit, θ₀[unit i] = c_i ~ N(0, σ²) broadcast over the unit's entries along
///   <see cref="UnitAxis"/>, so units are no longer interchangeable; decay through the optimizer as for syre.</item>
/// <item><c>syre_diag</c> (rotation): θ₀ as syre, but the decay is the explicit penalty (decay/2)·Σ D ⊙ θ² (gradient decay·D ⊙ θ,
///   matching the optimizer convention) with D a fixed random positive diagonal, entries U(0.5, 1.5), stored as buffer "decay_d";
///   the optimizer's own weight decay is switched off for θ.</item>
/// </list>
/// <para>
/// Storage. For syre and perturb on a parameter that is not also induced, the trainable tensor is the effective parameter
/// itself, P = θ + θ₀, registered as "value" (<see cref="TrainsEffective"/>): training ℓ(θ + θ₀) + decay·‖θ‖² is exactly
/// training P with the decay pulling P towards θ₀ (gradient ∇ℓ(P) + decay·(P − θ₀)), and ∂ℓ/∂θ = ∂ℓ/∂P, so the forward
/// and backward passes carry no extra addition. The optimizer still applies its weight decay to θ:
/// <see cref="SymModel.OptimizerStep"/> corrects its step on P with one exact in-place update per tensor (<see cref="OffsetStep"/>),
/// or, for optimizers where that is not possible, subtracts θ₀ in place around the step (<see cref="ShiftToTheta"/>,
/// <see cref="ShiftToEffective"/>); nothing is needed when decay is 0. Otherwise (syre_diag, whose penalty reads θ, and
/// offsets on induced parameters) θ is stored: a tensor "theta" starting at the layer's usual initialisation, or the inner
/// parameterization's factors, so P = θ + θ₀, u ⊙ v + θ₀ or U Vᵀ + θ₀.
/// </para>
/// </summary>
public sealed class OffsetParameterization : Parameterization
{
    readonly Parameterization? _inner;

    public OffsetParameterization(string logicalName, nn.Module node, Tensor init, string method, double sigma, double decay,
        Generator generator, Parameterization? inner = null, int? unitAxis = null) : base(logicalName, init.shape, node)
    {
        Method = method;
        Sigma = sigma;
        Decay = decay;
        UnitAxis = unitAxis;
        _inner = inner;
        var definition = Vocabulary.Regularizers.Get(method);
        TrainsEffective = inner is null && !definition.DiagonalDecay;
        if (inner is null && !TrainsEffective)
        {
            using var detached = init.detach();
            node.register_parameter("theta", new TorchSharp.Modules.Parameter(detached.clone(), requires_grad: true));
        }
        Tensor theta0;
        if (definition.PerUnitOffset)
        {
            var axis = unitAxis ?? 0;
            if (axis < 0 || axis >= init.dim()) axis = 0;
            using var c = torch.randn([init.shape[axis]], dtype: init.dtype, device: init.device, generator: generator);
            var viewShape = Enumerable.Repeat(1L, (int)init.dim()).ToArray();
            viewShape[axis] = init.shape[axis];
            using var view = c.reshape(viewShape);
            using var expanded = view.expand(init.shape);
            using var s = sigma.ToScalar();
            theta0 = expanded.mul(s).contiguous();
        }
        else
        {
            using var s = sigma.ToScalar();
            theta0 = torch.randn(init.shape, dtype: init.dtype, device: init.device, generator: generator).mul_(s);
        }
        if (TrainsEffective)
        {
            using var detached = init.detach();
            node.register_parameter("value", new TorchSharp.Modules.Parameter(detached.add(theta0), requires_grad: true));
        }
        node.register_buffer("theta0", theta0, persistent: true);
        if (definition.DiagonalDecay)
            node.register_buffer("decay_d", torch.rand(init.shape, dtype: init.dtype, device: init.device, generator: generator).add_(Scalars.Half), persistent: true);
    }

    /// <summary>The regularizer's name (<see cref="Vocabulary.Regularizers"/>).</summary>
    public string Method { get; }
    public double Sigma { get; }
    public double Decay { get; }
    public int? UnitAxis { get; }
    public Parameterization? Inner => _inner;
    public override string Kind => "offset";
    public Tensor Theta0 => Buffer("theta0");
    /// <summary>True when the decay is an explicit penalty (syre_diag) rather than the optimizer's weight decay.</summary>
    public bool DecayIsPenalty => Vocabulary.Regularizers.Get(Method).DiagonalDecay;
    /// <summary>True when the trainable tensor is P = θ + θ₀ itself ("value"), false when it is θ ("theta") or the inner factors.</summary>
    public bool TrainsEffective { get; }
    /// <summary>True when the optimizer step must see θ rather than P (<see cref="ShiftToTheta"/>): P is trained and the optimizer decays it.</summary>
    public bool NeedsShift => TrainsEffective && Decay != 0;
    /// <summary>The stored P = θ + θ₀ ("value"), live; only when <see cref="TrainsEffective"/>.</summary>
    internal TorchSharp.Modules.Parameter StoredEffective => TrainsEffective ? Raw("value") : throw new InvalidOperationException($"{LogicalName} stores θ, not P");
    /// <summary>θ = P − θ₀ (a new tensor when P is stored, differentiable w.r.t. the raw tensors).</summary>
    public Tensor Theta() => TrainsEffective ? Raw("value") - Buffer("theta0") : _inner is null ? Raw("theta") : _inner.Effective();
    public override Tensor Effective() => TrainsEffective ? Raw("value") : Theta() + Buffer("theta0");
    public override IReadOnlyList<string> RawParameterNames => _inner?.RawParameterNames ?? [TrainsEffective ? "value" : "theta"];

    /// <summary>In place, without recording gradients: the stored P becomes θ = P − θ₀ (for the optimizer's weight decay on θ). No-op unless <see cref="TrainsEffective"/>.</summary>
    public void ShiftToTheta()
    {
        using var _ = no_grad();
        Shift(toTheta: true);
    }

    /// <summary>Undoes <see cref="ShiftToTheta"/>: the stored θ becomes P = θ + θ₀.</summary>
    public void ShiftToEffective()
    {
        using var _ = no_grad();
        Shift(toTheta: false);
    }

    /// <summary>The shift itself, for a caller that already holds a no_grad guard (one guard for a whole optimizer step).</summary>
    internal void Shift(bool toTheta)
    {
        if (!TrainsEffective) return;
        if (toTheta) Raw("value").sub_(Buffer("theta0"));
        else Raw("value").add_(Buffer("theta0"));
    }

    /// <summary>syre_diag's (decay/2)·Σ D ⊙ θ² on the trainable tensors (θ, or every factor of an induced parameter); null for the others.</summary>
    public Tensor? Penalty()
    {
        if (!DecayIsPenalty) return null;
        var d = Buffer("decay_d");
        if (_inner is null) return (Raw("theta").square() * d).sum() * (Decay / 2);
        // Induced: the diagonal weights the effective θ (u ⊙ v or U Vᵀ), which keeps D's meaning per entry of P.
        return (_inner.Effective().square() * d).sum() * (Decay / 2);
    }

    public override void SetEffective(Tensor value)
    {
        CheckShape(value);
        using var _ = no_grad();
        if (TrainsEffective) { Raw("value").copy_(value); return; }
        using var scope = NewDisposeScope();
        var theta = value - Buffer("theta0");
        if (_inner is null) Raw("theta").copy_(theta);
        else _inner.SetEffective(theta);
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
