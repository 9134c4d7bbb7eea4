using TorchSharp;
using SymDsl.Torch.Runtime;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Optimizer = TorchSharp.torch.optim.Optimizer;

namespace SymDsl.Torch.Lowering;

/// <summary>
/// The optimizer step of a model whose syre/perturb parameters store P = θ + θ₀ while the optimizer's weight decay λ must
/// act on θ = P − θ₀ (<see cref="SymModel.OptimizerStep"/>). The decay term λ·param is the only place an optimizer reads the
/// parameter's value, so rather than shifting P to θ and back around the step (two in-place passes over every such tensor)
/// the missing −λθ₀ is supplied once per tensor, in the cheapest place the optimizer allows (TorchSharp 0.107's code):
/// <list type="bullet">
/// <item>gradient: SGD (any momentum, Nesterov too) and Adam (coupled L2), not maximizing, when the gradients were zeroed by
///   <see cref="ZeroGradients"/>. Both optimizers use the gradient only through g + λ·param, and the backward pass adds the
///   loss gradient into an existing .grad in place, so a .grad that starts the step at −λθ₀ instead of 0 ends it at
///   g − λθ₀, and the optimizer's g − λθ₀ + λP is g + λθ: the zeroing pass becomes a copy of −λθ₀ (kept per tensor, in the
///   parameter's dtype and device) and the step needs nothing more. .grad then holds g − λθ₀ for that step; the trainer
///   zeroes exactly (optimizer.zero_grad()) at steps where an observer reads .grad
///   (<see cref="SymDsl.Torch.Training.ITrainingObserver.ReadsGradients"/>).</item>
/// <item>after: AdamW (decoupled decay) and SGD without momentum. The plain step on P decays P instead of θ, i.e. it falls
///   short by lr·λ·θ₀, which is added after it: AdamW P(1 − lr λ) − lr u + lr λ θ₀ = θ(1 − lr λ) − lr u + θ₀, and
///   SGD P − lr(g + λP) + lr λ θ₀ = θ − lr(g + λθ) + θ₀.</item>
/// <item>momentum: SGD with momentum μ (not Nesterov). Its buffer b ← μ b + (1 − dampening)(g + λ·param) would take in
///   (1 − dampening)·λθ₀ too much on P, so b is lowered by (1 − dampening)·λ/μ·θ₀ before the step: the buffer after it, and
///   so the update, are those on θ. The first step (no buffer yet) is shifted.</item>
/// <item>shift: anything else (Adam's coupled L2 without the gradient form, whose second moment squares the decayed
///   gradient; Nesterov; maximize; another optimizer class): P is shifted to θ in place for the step and back after it.</item>
/// </list>
/// Except in the gradient form the gradients are never touched. The parameters and the optimizer state are those of the
/// shift to float rounding (the tests compare them, and a hand-computed update on θ, in float64), so checkpoints keep their
/// format and meaning, old ones included. A group whose weight decay is 0 needs nothing. The learning rate, decay and
/// momentum are read from the parameter's group at every step (schedules change them); a decay changed between
/// <see cref="ZeroGradients"/> and the step takes the prefilled −λθ₀ back out of .grad and corrects as above.
/// </summary>
sealed class OffsetStep(OffsetParameterization[] offsets) : IDisposable
{
    enum Form { None, After, Momentum, Shift, Gradient }

    readonly Form[] _forms = new Form[offsets.Length];
    readonly double[] _alpha = new double[offsets.Length];
    Optimizer? _optimizer;
    Dictionary<IntPtr, (OptimizerOptions Options, OptimizerState State)>? _groups;

    /// <summary>What <see cref="Step"/> does with <paramref name="optimizer"/> now to each offset tensor, by logical parameter name: "none", "gradient", "after", "momentum" or "shift" (for tests).</summary>
    internal IReadOnlyDictionary<string, string> Plan(Optimizer optimizer)
    {
        Resolve(optimizer);
        return offsets.Select((o, i) => (o.LogicalName, Form: (_prefilled[i] is { } d && PrefillHolds(optimizer, i, d) ? Form.Gradient : _forms[i]).ToString().ToLowerInvariant()))
            .ToDictionary(x => x.LogicalName, x => x.Form);
    }

    // The gradient form. _prefilled[i]: the decay λ whose −λθ₀ ZeroGradients put into tensor i's .grad for the coming step
    // (null: zeroed, or not a parameter of the optimizer's). _prefill[i]: −λθ₀ itself, kept while λ and θ₀ stay the same.
    readonly double?[] _prefilled = new double?[offsets.Length];
    readonly Tensor?[] _prefill = new Tensor?[offsets.Length];
    readonly double[] _prefillDecay = new double[offsets.Length];
    readonly Tensor?[] _prefillSource = new Tensor?[offsets.Length];
    readonly IntPtr[] _handles = new IntPtr[offsets.Length];
    readonly bool[] _inGradient = new bool[offsets.Length]; // this step's tensors in the gradient form (Step)
    readonly bool[] _addAtStep = new bool[offsets.Length]; // no .grad to prefill: −λθ₀ is added to it by the step

    /// <summary>
    /// The decay λ of a group whose optimizer adds λ·param to the gradient before anything else reads it (SGD; Adam's
    /// coupled L2), not maximizing, λ ≠ 0; null where .grad cannot carry the correction (AdamW's decoupled decay, maximize,
    /// another optimizer, no decay).
    /// </summary>
    static double? GradientDecay(Optimizer optimizer, OptimizerOptions? options) => options switch
    {
        SGD.Options o when optimizer.GetType() == typeof(SGD) && o.maximize != true && (o.weight_decay ?? 0) != 0 => o.weight_decay,
        Adam.Options o when optimizer.GetType() == typeof(Adam) && o.maximize != true && (o.weight_decay ?? 0) != 0 => o.weight_decay,
        _ => null,
    };

    /// <summary>
    /// Zeroes the gradients of <paramref name="optimizer"/>'s parameters as optimizer.zero_grad() does (each existing .grad
    /// in place), except those of offset tensors in a group of <see cref="GradientDecay"/>, which are set to −λθ₀ (the
    /// gradient form). Where such a tensor has no .grad yet (before its first backward pass), <see cref="Step"/> adds −λθ₀
    /// to the gradient the backward pass creates: the same floating-point sum, so a resumed run, whose first step starts
    /// without gradients, takes the steps of an uninterrupted one bit for bit.
    /// </summary>
    public void ZeroGradients(Optimizer optimizer)
    {
        Array.Fill(_prefilled, null);
        if (optimizer is not OptimizerHelper helper) { optimizer.zero_grad(); return; }
        if (!ReferenceEquals(optimizer, _optimizer)) Index(optimizer);
        for (var i = 0; i < offsets.Length; i++) _handles[i] = offsets[i].StoredEffective.Handle;
        foreach (var group in helper.ParamGroups ?? [])
        {
            if (group is not ParamGroup pg) continue;
            var decay = GradientDecay(optimizer, pg.Options);
            foreach (var p in pg.Parameters)
            {
                using var g = p.grad;
                var i = decay is null ? -1 : Array.IndexOf(_handles, p.Handle);
                if (i >= 0)
                {
                    // No .grad yet (the first step of a run, resumed ones included): the backward pass creates it, and the
                    // step adds −λθ₀ to it, the same sum as the backward pass adding g into −λθ₀, bit for bit.
                    g?.copy_(Prefill(i, decay!.Value));
                    (_prefilled[i], _addAtStep[i]) = (decay, g is null);
                }
                else g?.zero_();
            }
        }
    }

    /// <summary>Forgets what <see cref="ZeroGradients"/> put into .grad (the caller zeroed the gradients itself).</summary>
    public void ForgetPrefill() => Array.Fill(_prefilled, null);

    /// <summary>Forgets every −λθ₀ kept (θ₀ may have been loaded anew).</summary>
    public void Invalidate()
    {
        for (var i = 0; i < _prefill.Length; i++) { _prefill[i]?.Dispose(); _prefill[i] = null; _prefillSource[i] = null; }
    }

    /// <summary>−λθ₀ of tensor <paramref name="i"/>, computed again when λ or the θ₀ tensor (moved, converted) changed.</summary>
    Tensor Prefill(int i, double decay)
    {
        var theta0 = offsets[i].Theta0;
        if (_prefill[i] is { IsInvalid: false } q && _prefillDecay[i].Equals(decay) && ReferenceEquals(_prefillSource[i], theta0)) return q;
        _prefill[i]?.Dispose();
        using var _ = no_grad();
        using var s = (-decay).ToScalar();
        _prefill[i] = theta0.mul(s).DetachFromDisposeScope();
        (_prefillDecay[i], _prefillSource[i]) = (decay, theta0);
        return _prefill[i]!;
    }

    /// <summary>Whether tensor <paramref name="i"/>'s prefilled .grad still fits its group now: the gradient form with the same λ.</summary>
    bool PrefillHolds(Optimizer optimizer, int i, double prefilled)
    {
        if (!ReferenceEquals(optimizer, _optimizer)) Index(optimizer);
        var handle = offsets[i].StoredEffective.Handle;
        if (!_groups!.TryGetValue(handle, out var group)) return false;
        return GradientDecay(optimizer, group.Options) is { } decay && decay.Equals(prefilled);
    }

    public void Step(Optimizer optimizer)
    {
        if (!Current(optimizer)) Resolve(optimizer);
        using var _ = no_grad(); // in-place updates of leaves (the optimizer's own step runs without gradients too)
        // The gradient form: nothing to do where ZeroGradients prefilled and the group still has that decay; where it no
        // longer does (changed in between), the −λθ₀ goes back out of .grad and the tensor takes its usual form.
        for (var i = 0; i < offsets.Length; i++)
        {
            _inGradient[i] = false;
            if (_prefilled[i] is not { } decay) continue;
            _prefilled[i] = null; // used up by this step
            var holds = PrefillHolds(optimizer, i, decay);
            _inGradient[i] = holds;
            if (holds != _addAtStep[i]) continue; // prefilled and kept, or the loss gradient left as it is
            using var g = offsets[i].StoredEffective.grad; // (none at all: the optimizer skips the tensor)
            if (holds) g?.add_(Prefill(i, decay)); // no .grad to prefill: −λθ₀ added to the new one
            else
            {
                using var s = decay.ToScalar();
                g?.add_(offsets[i].Theta0, s); // prefilled, but the group's decay changed: taken back out
            }
        }
        try
        {
            for (var i = 0; i < offsets.Length; i++)
            {
                if (_inGradient[i]) continue;
                if (_forms[i] == Form.Shift) offsets[i].Shift(toTheta: true);
                else if (_forms[i] == Form.Momentum)
                    (_states[i] as SGD.State)!.momentum_buffer!.add_(_theta0[i]!, Coefficient(i, _alpha[i]));
            }
            optimizer.step();
        }
        finally
        {
            for (var i = 0; i < offsets.Length; i++)
                if (_forms[i] == Form.Shift && !_inGradient[i]) offsets[i].Shift(toTheta: false);
        }
        for (var i = 0; i < offsets.Length; i++)
        {
            if (_forms[i] != Form.After || _inGradient[i]) continue;
            _stored[i]!.add_(_theta0[i]!, Coefficient(i, _alpha[i] * (_options[i]!.LearningRate ?? 0)));
        }
    }

    readonly Scalar?[] _scalars = new Scalar?[offsets.Length];
    readonly double[] _scalarValues = new double[offsets.Length];

    public void Dispose()
    {
        for (var i = 0; i < _scalars.Length; i++) { _scalars[i]?.Dispose(); _scalars[i] = null; }
        Invalidate();
    }

    /// <summary>Tensor <paramref name="i"/>'s coefficient as a native scalar, kept while it does not change (a learning rate schedule changes it every step).</summary>
    Scalar Coefficient(int i, double value)
    {
        if (_scalars[i] is { } s && _scalarValues[i].Equals(value)) return s;
        _scalars[i]?.Dispose();
        _scalarValues[i] = value;
        return _scalars[i] = value.ToScalar();
    }

    // What the last Resolve found, per offset tensor: the stored P and θ₀ it corrects, its group's options and state, and
    // the options it read (a step compares them, so a change between steps resolves again).
    readonly Tensor?[] _stored = new Tensor?[offsets.Length];
    readonly Tensor?[] _theta0 = new Tensor?[offsets.Length];
    readonly OptimizerOptions?[] _options = new OptimizerOptions?[offsets.Length];
    readonly OptimizerState?[] _states = new OptimizerState?[offsets.Length];
    readonly (double? Decay, double? Momentum, double? Dampening, bool? Nesterov, bool? Maximize)[] _read = new (double?, double?, double?, bool?, bool?)[offsets.Length];
    bool _final;

    static (double?, double?, double?, bool?, bool?) Read(OptimizerOptions? options) => options switch
    {
        SGD.Options o => (o.weight_decay, o.momentum, o.dampening, o.nesterov, o.maximize),
        AdamW.Options o => (o.weight_decay, null, null, null, o.maximize),
        _ => default,
    };

    /// <summary>
    /// Whether the last <see cref="Resolve"/> still holds: the same optimizer, final forms (no momentum buffer still to
    /// appear), the same options, a momentum buffer where the form uses one, and a gradient where the form corrects. Costs
    /// a few field reads and one native call (the gradient) per corrected tensor: the full <see cref="Resolve"/> (optimizer
    /// type, parameter, group and state look-ups) runs only when something changed.
    /// </summary>
    bool Current(Optimizer optimizer)
    {
        if (!_final || !ReferenceEquals(optimizer, _optimizer)) return false; // (_final only after a Resolve that indexed this optimizer)
        for (var i = 0; i < offsets.Length; i++)
        {
            if (_forms[i] is Form.None or Form.Shift) continue;
            if (!Read(_options[i]).Equals(_read[i])) return false;
            if (_forms[i] == Form.Momentum && (_states[i] as SGD.State)?.momentum_buffer is not { IsInvalid: false }) return false;
            // Set to none since (zero_grad(set_to_none), a step that did not use it): resolve again.
            if (!GradientProbe.HasGradient(_stored[i]!)) return false;
        }
        return true;
    }

    /// <summary>Each offset tensor's form and coefficient under its group's options now (they may change between steps).</summary>
    void Resolve(Optimizer optimizer)
    {
        var type = optimizer.GetType();
        bool sgd = type == typeof(SGD), adamw = type == typeof(AdamW);
        if (!sgd && !adamw)
        {
            // Adam (coupled L2 inside its second moment) or another optimizer: θ itself is handed to it.
            Array.Fill(_forms, Form.Shift);
            _final = false;
            return;
        }
        if (!ReferenceEquals(optimizer, _optimizer)) Index(optimizer);
        var indexed = false;
        var final = true;
        for (var i = 0; i < offsets.Length; i++)
        {
            var handle = offsets[i].StoredEffective.Handle;
            if (!_groups!.ContainsKey(handle) && !indexed) { Index(optimizer); indexed = true; } // parameters replaced (moved) or groups added since
            _forms[i] = Form.Shift;
            _alpha[i] = 0;
            if (!_groups.TryGetValue(handle, out var group)) { _forms[i] = Form.None; continue; } // not trained by this optimizer
            switch (group.Options)
            {
                case SGD.Options o when sgd && o.maximize != true:
                    {
                        double decay = o.weight_decay ?? 0, momentum = o.momentum ?? 0, dampening = o.dampening ?? 0;
                        if (decay == 0) _forms[i] = Form.None;
                        else if (momentum == 0) (_forms[i], _alpha[i]) = (Form.After, decay);
                        else if (o.nesterov != true && momentum >= 1e-3 && (group.State as SGD.State)?.momentum_buffer is { IsInvalid: false })
                            (_forms[i], _alpha[i]) = (Form.Momentum, -(1 - dampening) * decay / momentum);
                        break;
                    }
                case AdamW.Options o when adamw:
                    {
                        var decay = o.weight_decay ?? 0;
                        (_forms[i], _alpha[i]) = decay == 0 ? (Form.None, 0) : (Form.After, decay);
                        break;
                    }
            }
            if (_forms[i] is Form.After or Form.Momentum)
            {
                // The optimizer skips a tensor without a gradient; so does the correction.
                using var g = offsets[i].StoredEffective.grad;
                if (g is null) { _forms[i] = Form.None; final = false; }
            }
            if (_forms[i] == Form.Shift && sgd && group.Options is SGD.Options { momentum: > 0 } && (group.State as SGD.State)?.momentum_buffer is null)
                final = false; // the first step: the buffer appears with it
            _stored[i] = offsets[i].StoredEffective;
            _theta0[i] = offsets[i].Theta0;
            _options[i] = group.Options;
            _states[i] = group.State;
            _read[i] = Read(group.Options);
        }
        _final = final;
    }

    void Index(Optimizer optimizer)
    {
        _optimizer = optimizer;
        _groups = new();
        if (optimizer is not OptimizerHelper helper) return;
        // state_dict() lists the groups' options and, in the same order as the groups' parameters, their states.
        var states = helper.state_dict().State;
        var k = 0;
        foreach (var group in helper.ParamGroups ?? [])
            if (group is ParamGroup pg)
                foreach (var p in pg.Parameters)
                    _groups.TryAdd(p.Handle, (pg.Options, k < states.Count ? states[k++] : null!));
    }
}
