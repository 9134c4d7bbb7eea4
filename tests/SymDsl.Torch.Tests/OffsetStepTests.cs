using SymDsl.IR;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Training;
using TorchSharp;
using static SymDsl.Torch.Tests.TestPrograms;
using static TorchSharp.torch;

namespace SymDsl.Torch.Tests;

/// <summary>
/// <see cref="SymModel.OptimizerStep"/> for syre/perturb parameters that store P = θ + θ₀: the optimizer's weight decay acts
/// on θ = P − θ₀ through one correction per tensor (<see cref="OffsetStep"/>). Checked in float64 against an update
/// computed by hand on θ and against the former implementation (P shifted to θ in place around the step).
/// </summary>
[Collection("torch")]
public class OffsetStepTests
{
    // syre on fc1 (decay 0.05), perturb on fc2.weight (decay 0.02), fc2.bias plain (the optimizer's decay 0.01).
    static readonly ReparamRequest[] Reparams =
    [
        new("fc1.weight", "offset", 0.5, 0.05), new("fc1.bias", "offset", 0.5, 0.05),
        new("fc2.weight", "offset", 0.3, 0.02, Method: "perturb", Axis: 1),
    ];

    static OptimizerIR Optimizer(string kind) => kind switch
    {
        "sgd" => new("sgd", Args(("lr", D(0.1)), ("momentum", D(0.0)), ("weight_decay", D(0.01))), Span),
        "sgd_momentum" => new("sgd", Args(("lr", D(0.1)), ("momentum", D(0.9)), ("weight_decay", D(0.01))), Span),
        "sgd_nesterov" => new("sgd", Args(("lr", D(0.1)), ("momentum", D(0.8)), ("nesterov", B(true)), ("weight_decay", D(0.01))), Span),
        _ => new(kind, Args(("lr", D(0.01)), ("weight_decay", D(0.01)), ("beta1", D(0.9)), ("beta2", D(0.99)), ("eps", D(1e-8))), Span),
    };

    static SymModel Model()
    {
        var m = new SymModel(Mlp(8), Reparams, seed: 11);
        m.to(ScalarType.Float64);
        return m;
    }

    /// <summary>How <see cref="Gradients"/> zeroes the previous gradients.</summary>
    enum Zeroing
    {
        /// <summary>optimizer.zero_grad(), as a caller that steps by hand.</summary>
        Optimizer,
        /// <summary><see cref="SymModel.ZeroGradients"/> with lossGradients: the trainer at a step where an observer reads .grad.</summary>
        Exact,
        /// <summary><see cref="SymModel.ZeroGradients"/>: −λθ₀ where the optimizer allows it, the trainer's usual step.</summary>
        Prefill,
    }

    /// <summary>One backward pass on a batch drawn from <paramref name="gen"/> (gradients in .grad, the previous ones zeroed by <paramref name="zeroing"/>).</summary>
    static void Gradients(SymModel m, optim.Optimizer opt, Generator gen, Zeroing zeroing = Zeroing.Optimizer)
    {
        using var scope = NewDisposeScope();
        var x = randn([16, 64], dtype: ScalarType.Float64, generator: gen);
        var y = randn([16, 10], dtype: ScalarType.Float64, generator: gen);
        if (zeroing == Zeroing.Optimizer) opt.zero_grad();
        else m.ZeroGradients(opt, lossGradients: zeroing == Zeroing.Exact);
        (m.Forward(new Dictionary<string, Tensor> { ["x"] = x })["logits"] - y).square().mean().backward();
    }

    static double LearningRate(double baseLr, int step) => baseLr * (1 + 0.5 * Math.Sin(step)); // a schedule that moves every step

    static double RelativeError(Tensor actual, Tensor expected) =>
        (actual - expected).abs().max().item<double>() / Math.Max(expected.abs().max().item<double>(), 1e-300);

    /// <summary>The update on θ as PyTorch/TorchSharp define it, per raw tensor, in float64.</summary>
    sealed class HandOptimizer(string kind, double decay)
    {
        Tensor? _buf, _m, _v;
        int _t;
        public Tensor Update(Tensor theta, Tensor g, double lr)
        {
            _t++;
            switch (kind)
            {
                case "sgd": return theta - lr * (g + decay * theta);
                case "sgd_momentum":
                case "sgd_nesterov":
                    {
                        var mu = kind == "sgd_momentum" ? 0.9 : 0.8;
                        var d = g + decay * theta;
                        _buf = _buf is null ? d.clone() : mu * _buf + d;
                        return theta - lr * (kind == "sgd_nesterov" ? d + mu * _buf : _buf);
                    }
                default:
                    {
                        const double b1 = 0.9, b2 = 0.99, eps = 1e-8;
                        var d = kind == "adam" ? g + decay * theta : g;
                        var start = kind == "adamw" ? theta * (1 - lr * decay) : theta;
                        _m = _m is null ? (1 - b1) * d : b1 * _m + (1 - b1) * d;
                        _v = _v is null ? (1 - b2) * d * d : b2 * _v + (1 - b2) * d * d;
                        var denom = _v.sqrt() / Math.Sqrt(1 - Math.Pow(b2, _t)) + eps;
                        return start - lr / (1 - Math.Pow(b1, _t)) * _m / denom;
                    }
            }
        }
    }

    /// <summary>
    /// The update on θ computed by hand (<see cref="HandOptimizer"/>) for every raw tensor of a model, from its parameters
    /// at construction: θ = P − θ₀ for offset tensors, P for the others, each with its own weight decay.
    /// </summary>
    sealed class HandReference
    {
        public readonly List<string> Names;
        /// <summary>θ₀ of each offset tensor (null for the others).</summary>
        public readonly Dictionary<string, Tensor?> Theta0;
        public readonly Dictionary<string, double> Decays;
        readonly Dictionary<string, HandOptimizer> _hand;
        readonly Dictionary<string, Tensor> _theta;

        public HandReference(SymModel m, string kind)
        {
            Names = m.named_parameters().Select(np => np.name).ToList();
            Theta0 = Names.ToDictionary(n => n, n => n.EndsWith(".value") ? m.state_dict()[n[..^"value".Length] + "theta0"].clone() : null);
            Decays = Names.ToDictionary(n => n, n => m.RawWeightDecay.TryGetValue(n, out var d) ? d : 0.01);
            _hand = Names.ToDictionary(n => n, n => new HandOptimizer(kind, Decays[n]));
            _theta = Names.ToDictionary(n => n, n => Theta0[n] is { } t0 ? Param(m, n).detach() - t0 : Param(m, n).detach().clone());
        }

        /// <summary>One step on θ with the loss gradients <paramref name="grads"/> (by raw name) at learning rate <paramref name="lr"/>.</summary>
        public void Update(IReadOnlyDictionary<string, Tensor> grads, double lr)
        {
            foreach (var n in Names) _theta[n] = _hand[n].Update(_theta[n], grads[n], lr);
        }

        /// <summary><paramref name="m"/>'s parameters are θ + θ₀ (θ for plain tensors) to 1e-12 relative.</summary>
        public void AssertFollowedBy(SymModel m)
        {
            foreach (var n in Names)
            {
                var expected = Theta0[n] is { } t0 ? _theta[n] + t0 : _theta[n];
                Assert.True(RelativeError(Param(m, n), expected) < 1e-12, $"{n}: {RelativeError(Param(m, n), expected):E2} from the hand-computed update");
            }
        }
    }

    [Theory]
    [InlineData("sgd", "after")]
    [InlineData("sgd_momentum", "momentum")]
    [InlineData("sgd_nesterov", "shift")]
    [InlineData("adam", "shift")]
    [InlineData("adamw", "after")]
    public void The_step_equals_the_update_on_theta_computed_by_hand_and_the_former_shift(string kind, string form)
    {
        using var scope = NewDisposeScope();
        using var m = Model();
        using var reference = Model(); // the former implementation: P shifted to θ in place around the step
        using var opt = Trainer.BuildOptimizer(m, Optimizer(kind));
        using var refOpt = Trainer.BuildOptimizer(reference, Optimizer(kind));
        var baseLr = Optimizer(kind).Args["lr"].AsDouble();
        var hand = new HandReference(m, kind);
        var names = hand.Names;
        Assert.Equal(["fc1.bias.value", "fc1.weight.value", "fc2.bias", "fc2.weight.value"], names.Order());
        var offsets = reference.ParameterNames.Select(reference.ParameterizationOf).OfType<OffsetParameterization>().ToList();
        using var gen = new Generator(5);
        using var refGen = new Generator(5);
        for (var step = 0; step < 30; step++)
        {
            var lr = LearningRate(baseLr, step);
            foreach (var g in opt.ParamGroups) g.LearningRate = lr;
            foreach (var g in refOpt.ParamGroups) g.LearningRate = lr;
            Gradients(m, opt, gen);
            Gradients(reference, refOpt, refGen);
            // The first step of SGD with momentum has no buffer yet to correct: it is shifted.
            Assert.Equal(Plan(step == 0 && kind == "sgd_momentum" ? "shift" : form), m.OffsetStepPlan(opt));
            var grads = names.ToDictionary(n => n, n => Param(m, n).grad!.clone());
            m.OptimizerStep(opt);
            foreach (var n in names) Assert.True(Param(m, n).grad!.equal(grads[n]).all().item<bool>(), $"{n}: the gradient changed");
            ShiftedStep(refOpt, offsets);
            hand.Update(grads, lr);
        }
        hand.AssertFollowedBy(m);
        foreach (var n in names)
            Assert.True(RelativeError(Param(m, n), Param(reference, n)) < 1e-12, $"{n}: {RelativeError(Param(m, n), Param(reference, n)):E2} from the shift");
        // The optimizer state (momentum buffers, Adam's moments) is the shift's too: checkpoints keep their meaning.
        var state = Divergence.OptimizerState(m, opt);
        var refState = Divergence.OptimizerState(reference, refOpt);
        Assert.Equal(refState.Select(s => s.Name), state.Select(s => s.Name));
        if (kind != "sgd") Assert.NotEmpty(state); // plain SGD keeps none
        foreach (var ((name, t), (_, r)) in state.Zip(refState))
            Assert.True(RelativeError(t, r) < 1e-12, $"{name}: {RelativeError(t, r):E2}");
    }

    [Theory]
    [InlineData("sgd_momentum")]
    [InlineData("adamw")]
    public void Options_changed_between_steps_are_followed_as_the_shift_follows_them(string kind)
    {
        // The step keeps what it resolved while nothing changes; a group's weight decay or momentum changed between two
        // steps (by the user, not by the trainer) must be read again.
        using var scope = NewDisposeScope();
        using var twin = new AgainstTheShift(kind, seed: 11);
        for (var step = 0; step < 12; step++)
        {
            if (step == 6)
                twin.SetOptions(o =>
                {
                    switch (o)
                    {
                        case TorchSharp.Modules.SGD.Options so: so.weight_decay = 0.05; so.momentum = 0.5; break;
                        case TorchSharp.Modules.AdamW.Options ao: ao.weight_decay = 0.05; break;
                    }
                });
            twin.Gradients();
            twin.Step();
        }
        twin.AssertSame();
    }

    [Theory]
    [InlineData("sgd", "gradient", "after")]
    [InlineData("sgd_momentum", "gradient", "momentum")]
    [InlineData("sgd_nesterov", "gradient", "shift")]
    [InlineData("adam", "gradient", "shift")]
    [InlineData("adamw", "after", "after")]
    public void Gradients_zeroed_to_minus_decay_theta0_give_the_update_on_theta_computed_by_hand(string kind, string form, string exactForm)
    {
        // The trainer's zeroing (SymModel.ZeroGradients): .grad starts at −λθ₀ where the optimizer adds λ·param to the
        // gradient, and at every third step .grad is zeroed exactly (an observer reads the loss gradient) and the tensor
        // takes its usual form. Both kinds of step follow the update on θ.
        using var scope = NewDisposeScope();
        using var m = Model();
        using var opt = Trainer.BuildOptimizer(m, Optimizer(kind));
        var baseLr = Optimizer(kind).Args["lr"].AsDouble();
        var hand = new HandReference(m, kind);
        using var gen = new Generator(5);
        var gradientSteps = 0;
        for (var step = 0; step < 30; step++)
        {
            var lr = LearningRate(baseLr, step);
            foreach (var g in opt.ParamGroups) g.LearningRate = lr;
            var exact = step % 3 == 2;
            Gradients(m, opt, gen, exact ? Zeroing.Exact : Zeroing.Prefill);
            // (Step 0 has no .grad to start from, the backward pass creates it: the step adds −λθ₀ to it.)
            var expectedForm = exact ? exactForm : form;
            Assert.Equal(Plan(expectedForm), m.OffsetStepPlan(opt));
            if (expectedForm == "gradient") gradientSteps++;
            // The loss gradient: .grad itself, or .grad + λθ₀ where it started at −λθ₀.
            var grads = hand.Names.ToDictionary(n => n, n => expectedForm == "gradient" && step > 0 && hand.Theta0[n] is { } t0 ? Param(m, n).grad! + hand.Decays[n] * t0 : Param(m, n).grad!.clone());
            m.OptimizerStep(opt);
            hand.Update(grads, lr);
        }
        if (form == "gradient") Assert.Equal(20, gradientSteps);
        hand.AssertFollowedBy(m);
    }

    [Theory]
    [InlineData("sgd_momentum")]
    [InlineData("adam")]
    public void A_decay_changed_after_the_gradients_were_zeroed_takes_the_prefill_back_out(string kind)
    {
        using var scope = NewDisposeScope();
        using var twin = new AgainstTheShift(kind, seed: 13);
        for (var step = 0; step < 12; step++)
        {
            twin.Gradients(Zeroing.Prefill);
            if (step == 6)
            {
                // Between the zeroing and the step (.grad holds g − 0.05·θ₀ for syre's tensors): a new decay.
                Assert.Equal("gradient", twin.M.OffsetStepPlan(twin.Opt)["fc1.weight"]);
                twin.SetOptions(o =>
                {
                    switch (o)
                    {
                        case TorchSharp.Modules.SGD.Options so: so.weight_decay = 0.03; break;
                        case TorchSharp.Modules.Adam.Options ao: ao.weight_decay = 0.03; break;
                    }
                });
                Assert.Equal(kind == "adam" ? "shift" : "momentum", twin.M.OffsetStepPlan(twin.Opt)["fc1.weight"]);
            }
            twin.Step();
        }
        twin.AssertSame();
    }

    [Fact]
    public void Loading_a_state_dict_with_another_theta0_is_followed_by_the_prefill()
    {
        // −λθ₀ is kept between steps; θ₀ written in place by a load must not leave it stale.
        using var scope = NewDisposeScope();
        using var twin = new AgainstTheShift("sgd_momentum", seed: 17);
        using var other = new SymModel(Mlp(8), Reparams, seed: 99);
        other.to(ScalarType.Float64);
        for (var step = 0; step < 10; step++)
        {
            if (step == 5)
            {
                Assert.False(twin.M.state_dict()["fc1.weight.theta0"].equal(other.state_dict()["fc1.weight.theta0"]).all().item<bool>());
                twin.M.load_state_dict(other.state_dict());
                twin.Reference.load_state_dict(other.state_dict());
            }
            twin.Gradients(Zeroing.Prefill);
            twin.Step();
        }
        twin.AssertSame();
    }

    /// <summary>
    /// A model stepped by <see cref="SymModel.OptimizerStep"/> and its reference stepped by the former implementation
    /// (<see cref="ShiftedStep"/>), side by side on the same batches; <see cref="AssertSame"/>: the same parameters.
    /// </summary>
    sealed class AgainstTheShift : IDisposable
    {
        public readonly SymModel M = Model(), Reference = Model();
        public readonly optim.Optimizer Opt, RefOpt;
        readonly List<OffsetParameterization> _offsets;
        readonly Generator _gen, _refGen;

        public AgainstTheShift(string kind, long seed)
        {
            Opt = Trainer.BuildOptimizer(M, Optimizer(kind));
            RefOpt = Trainer.BuildOptimizer(Reference, Optimizer(kind));
            _offsets = Reference.ParameterNames.Select(Reference.ParameterizationOf).OfType<OffsetParameterization>().ToList();
            (_gen, _refGen) = (new Generator((ulong)seed), new Generator((ulong)seed));
        }

        /// <summary>A backward pass on both (the model's gradients zeroed by <paramref name="zeroing"/>, the reference's by zero_grad()).</summary>
        public void Gradients(Zeroing zeroing = Zeroing.Optimizer)
        {
            OffsetStepTests.Gradients(M, Opt, _gen, zeroing);
            OffsetStepTests.Gradients(Reference, RefOpt, _refGen);
        }

        public void Step()
        {
            M.OptimizerStep(Opt);
            ShiftedStep(RefOpt, _offsets);
        }

        /// <summary>Changes every group's options of both optimizers.</summary>
        public void SetOptions(Action<TorchSharp.Modules.OptimizerOptions> change)
        {
            foreach (var o in new[] { Opt, RefOpt })
                foreach (var g in ((TorchSharp.Modules.OptimizerHelper)o).ParamGroups.OfType<TorchSharp.Modules.ParamGroup>())
                    change(g.Options);
        }

        public void AssertSame()
        {
            foreach (var n in M.named_parameters().Select(np => np.name))
                Assert.True(RelativeError(Param(M, n), Param(Reference, n)) < 1e-12, $"{n}: {RelativeError(Param(M, n), Param(Reference, n)):E2} from the shift");
        }

        public void Dispose()
        {
            _gen.Dispose(); _refGen.Dispose(); Opt.Dispose(); RefOpt.Dispose(); M.Dispose(); Reference.Dispose();
        }
    }

    /// <summary>The former implementation of the step, the reference: P shifted to θ in place, the optimizer's step, shifted back.</summary>
    static void ShiftedStep(optim.Optimizer optimizer, IReadOnlyList<OffsetParameterization> offsets)
    {
        foreach (var o in offsets) o.ShiftToTheta();
        optimizer.step();
        foreach (var o in offsets) o.ShiftToEffective();
    }

    static Dictionary<string, string> Plan(string form) => new() { ["fc1.weight"] = form, ["fc1.bias"] = form, ["fc2.weight"] = form };

    static TorchSharp.Modules.Parameter Param(SymModel m, string name) => m.named_parameters().First(np => np.name == name).parameter;

    [Fact]
    public void Other_optimizers_and_zero_decay_keep_the_shift_or_need_nothing()
    {
        using var scope = NewDisposeScope();
        using var m = Model();
        using var rms = optim.RMSProp(m.parameters(), 0.01, weight_decay: 0.1);
        Assert.All(m.OffsetStepPlan(rms).Values, f => Assert.Equal("shift", f));
        using var noDecay = optim.SGD(m.parameters(), 0.1, momentum: 0.9);
        Assert.All(m.OffsetStepPlan(noDecay).Values, f => Assert.Equal("none", f));
        using var maximize = optim.Adam(m.parameters(), 0.01, weight_decay: 0.1, maximize: true);
        Assert.All(m.OffsetStepPlan(maximize).Values, f => Assert.Equal("shift", f));
        // A decay of 0 in the break clause: nothing to correct, whatever the optimizer.
        using var zero = new SymModel(Mlp(8), [new ReparamRequest("fc1.weight", "offset", 0.5, 0.0)], seed: 1);
        using var adamw = Trainer.BuildOptimizer(zero, Optimizer("adamw"));
        Assert.Empty(zero.OffsetStepPlan(adamw));

        // RMSprop goes through the shift: bit for bit the former implementation.
        using var reference = Model();
        using var refRms = optim.RMSProp(reference.parameters(), 0.01, weight_decay: 0.1);
        var offsets = reference.ParameterNames.Select(reference.ParameterizationOf).OfType<OffsetParameterization>().ToList();
        using var gen = new Generator(3);
        using var refGen = new Generator(3);
        for (var step = 0; step < 5; step++)
        {
            Gradients(m, rms, gen);
            Gradients(reference, refRms, refGen);
            m.OptimizerStep(rms);
            ShiftedStep(refRms, offsets);
        }
        var sd = m.state_dict();
        var refSd = reference.state_dict();
        foreach (var k in sd.Keys) Assert.True(sd[k].equal(refSd[k]).all().item<bool>(), k);
    }

    [Theory]
    [InlineData("sgd")]
    [InlineData("sgd_momentum")]
    [InlineData("adamw")]
    public void A_tensor_without_a_gradient_is_left_alone_as_the_optimizer_leaves_it(string kind)
    {
        using var scope = NewDisposeScope();
        using var m = Model();
        using var opt = Trainer.BuildOptimizer(m, Optimizer(kind));
        using var gen = new Generator(9);
        for (var step = 0; step < 3; step++) { Gradients(m, opt, gen); m.OptimizerStep(opt); } // momentum buffers exist
        Gradients(m, opt, gen);
        var bias = Param(m, "fc1.bias.value");
        bias.grad = null; // e.g. Module.zero_grad(set_to_none) and a step that does not use it
        var before = bias.detach().clone();
        var state = Divergence.OptimizerState(m, opt).Where(s => s.Name.EndsWith("of fc1.bias.value")).Select(s => s.Tensor.clone()).ToList();
        var weight = Param(m, "fc1.weight.value").detach().clone();
        m.OptimizerStep(opt);
        Assert.True(bias.equal(before).all().item<bool>());
        Assert.Equal(state.Count, Divergence.OptimizerState(m, opt).Count(s => s.Name.EndsWith("of fc1.bias.value")));
        foreach (var (now, was) in Divergence.OptimizerState(m, opt).Where(s => s.Name.EndsWith("of fc1.bias.value")).Select(s => s.Tensor).Zip(state))
            Assert.True(now.equal(was).all().item<bool>());
        Assert.False(Param(m, "fc1.weight.value").equal(weight).all().item<bool>()); // the others did step
        Assert.Equal("none", m.OffsetStepPlan(opt)["fc1.bias"]); // (asked after the step: the step itself must notice)
    }

    [Theory]
    [InlineData("sgd", false)]
    [InlineData("sgd_momentum", false)]
    [InlineData("adam", false)]
    [InlineData("adamw", false)]
    [InlineData("sgd_momentum", true)]
    [InlineData("adam", true)]
    public void The_step_leaves_no_live_tensors(string kind, bool prefill)
    {
        using var m = Model();
        using var opt = Trainer.BuildOptimizer(m, Optimizer(kind));
        using var gen = new Generator(7);
        void Step()
        {
            using var scope = NewDisposeScope();
            Gradients(m, opt, gen, prefill ? Zeroing.Prefill : Zeroing.Optimizer);
            m.OptimizerStep(opt);
        }
        Step(); Step(); // optimizer state and gradients are allocated on the first steps
        var live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (var i = 0; i < 5; i++) Step();
        Assert.Equal(live, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        // Outside any dispose scope too (a caller that steps by hand).
        Gradients(m, opt, gen, prefill ? Zeroing.Prefill : Zeroing.Optimizer);
        live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        m.OptimizerStep(opt);
        Assert.Equal(live, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }
}
