using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Training;
using TorchSharp;
using static SymDsl.Torch.Tests.TestPrograms;
using static TorchSharp.torch;

namespace SymDsl.Torch.Tests;

[Collection("torch")]
public class LoweringTests
{
    static ModelIR Single(LayerIR layer, int[] inShape, int[] outShape, ElementType inType = ElementType.Float32, Func<Graph, int, int>? after = null)
    {
        var g = new Graph();
        var x = g.Input("x", inShape, inType);
        var y = g.Layer(layer.Name, x, outShape, "y");
        if (after is not null) y = after(g, y);
        return new ModelIR("M", Args(), [new InputIR("x", inShape, inType, Span)], [layer], g.Nodes, [new OutputIR("y", y)], [], Span);
    }

    static LayerIR Attention(int d, int heads, bool causal) => new("attn", LayerKind.SelfAttention,
        Args(("d", I(d)), ("heads", I(heads)), ("causal", B(causal)), ("bias", B(true))),
        new[] { "q", "k", "v", "o" }.SelectMany(n => new[] { Param($"attn.{n}.weight", d, d), Param($"attn.{n}.bias", d) }).ToList(), Span);

    static LayerIR Rnn(int @in, int hidden, string integrator, double dt = 1.0, string act = "tanh") => new("rnn", LayerKind.RNN,
        Args(("in", I(@in)), ("hidden", I(hidden)), ("activation", N(act)), ("integrator", N(integrator)), ("dt", D(dt)), ("bias", B(true))),
        [Param("rnn.input.weight", hidden, @in), Param("rnn.hidden.weight", hidden, hidden), Param("rnn.bias", hidden)], Span);

    static Dictionary<string, Tensor> X(Tensor x) => new() { ["x"] = x };

    [Fact]
    public void State_dict_keys_are_the_logical_parameter_names()
    {
        using var m = new SymModel(Mlp(8));
        Assert.Equal(["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"], m.state_dict().Keys.OrderBy(k => k, StringComparer.Ordinal));
        Assert.Equal(new long[] { 8, 64 }, m.state_dict()["fc1.weight"].shape);
    }

    [Fact]
    public void Seeded_initialisation_is_reproducible()
    {
        using var a = new SymModel(Mlp(8), [new ReparamRequest("fc1.weight", "offset", 0.1, 0.0)], seed: 4);
        torch.randn(100); // the global generator does not matter
        using var b = new SymModel(Mlp(8), [new ReparamRequest("fc1.weight", "offset", 0.1, 0.0)], seed: 4);
        using var c = new SymModel(Mlp(8), [new ReparamRequest("fc1.weight", "offset", 0.1, 0.0)], seed: 5);
        foreach (var (k, t) in a.state_dict()) Assert.True(t.equal(b.state_dict()[k]).all().item<bool>(), k);
        Assert.False(a.state_dict()["fc1.weight.theta0"].allclose(c.state_dict()["fc1.weight.theta0"]));
    }

    [Fact]
    public void Loop_names_are_sanitised_and_mapped()
    {
        var g = new Graph();
        var x = g.Input("x", [4]);
        var y = g.Layer("fc[2]", x, [3], "y");
        var model = new ModelIR("M", Args(), [new InputIR("x", [4], ElementType.Float32, Span)], [Linear("fc[2]", 4, 3)], g.Nodes, [new OutputIR("y", y)], [], Span);
        using var m = new SymModel(model);
        Assert.Contains("fc_2.weight", m.state_dict().Keys);
        Assert.Equal(["fc_2.weight"], m.RawKeys["fc[2].weight"]);
        Assert.Equal(new long[] { 3, 4 }, m.EffectiveParameter("fc[2].weight").shape);
        using var _ = no_grad();
        Assert.Equal(new long[] { 5, 3 }, m.Forward(X(randn(5, 4)))["y"].shape);
    }

    [Fact]
    public void Mlp_forward_matches_the_formula_and_captures_sites()
    {
        using var m = new SymModel(Mlp(8));
        var x = randn(5, 64);
        var captured = new Dictionary<string, Tensor>();
        var logits = m.Forward(X(x), new HashSet<string> { "h" }, captured)["logits"];
        var p = m.EffectiveParameters();
        var h = nn.functional.relu(x.matmul(p["fc1.weight"].t()) + p["fc1.bias"]);
        var expected = h.matmul(p["fc2.weight"].t()) + p["fc2.bias"];
        Assert.True(logits.allclose(expected, 1e-5, 1e-6));
        Assert.True(captured["h"].allclose(h));
        // The captured site is part of the graph: gradients w.r.t. it can be taken.
        var total = logits.sum();
        var g = autograd.grad([total], [captured["h"]], [ones_like(total)])[0];
        var expectedGrad = p["fc2.weight"].detach().sum([0]).unsqueeze(0).expand(5, 8);
        Assert.Equal(new long[] { 5, 8 }, g.shape);
        Assert.True((g.detach() - expectedGrad).abs().max().item<float>() < 1e-5, g.ToString(TorchSharp.TensorStringStyle.Julia) + " vs " + expectedGrad.ToString(TorchSharp.TensorStringStyle.Julia));
    }

    [Fact]
    public void Model_runs_in_float64_and_effective_parameters_can_be_set()
    {
        var train = MlpTrain(syre: true);
        using var m = new SymModel(Mlp(8), Trainer.Reparametrisations(train));
        m.to(ScalarType.Float64);
        Assert.Equal(ScalarType.Float64, m.EffectiveParameter("fc1.weight").dtype);
        var target = m.IR.Parameters.ToDictionary(p => p.Name, p => randn(p.Shape.Select(d => (long)d).ToArray(), dtype: ScalarType.Float64));
        m.SetEffectiveParameters(target);
        foreach (var (name, value) in target) Assert.True(m.EffectiveParameter(name).allclose(value, 1e-12, 1e-12), name);
        using var _ = no_grad();
        var y = m.Forward(X(randn(3, 64)))["logits"];
        Assert.Equal(ScalarType.Float64, y.dtype);
    }

    [Fact]
    public void Syre_offset_uses_theta_plus_a_fixed_theta0()
    {
        using var m = new SymModel(Mlp(8), [new ReparamRequest("fc1.weight", "offset", Sigma: 0.5, Decay: 0.01)], seed: 5);
        var sd = m.state_dict();
        // syre stores the effective P = θ + θ₀ ("value") next to the fixed θ₀; θ is P − θ₀.
        Assert.Contains("fc1.weight.value", sd.Keys);
        Assert.Contains("fc1.weight.theta0", sd.Keys);
        Assert.DoesNotContain("fc1.weight", sd.Keys);
        Assert.DoesNotContain("fc1.weight.theta", sd.Keys);
        Assert.Equal(["fc1.weight.value", "fc1.weight.theta0"], m.RawKeys["fc1.weight"]);
        var theta0 = sd["fc1.weight.theta0"];
        Assert.False(theta0.requires_grad);
        Assert.DoesNotContain(m.named_parameters(), np => np.name == "fc1.weight.theta0");
        Assert.InRange(theta0.std().item<float>(), 0.4, 0.6);
        Assert.True(m.EffectiveParameter("fc1.weight").equal(sd["fc1.weight.value"]).all().item<bool>());
        // θ starts at the layer's usual initialisation (the same draw as without syre).
        using var plain = new SymModel(Mlp(8), seed: 5);
        Assert.True((sd["fc1.weight.value"] - theta0).allclose(plain.EffectiveParameter("fc1.weight"), 1e-5, 1e-6));
        var want = ones(8, 64);
        m.SetEffectiveParameters(new Dictionary<string, Tensor> { ["fc1.weight"] = want });
        Assert.True(m.EffectiveParameter("fc1.weight").allclose(want));
        Assert.True(theta0.equal(m.state_dict()["fc1.weight.theta0"]).all().item<bool>());
    }

    [Fact]
    public void Perturb_offsets_are_constant_per_unit()
    {
        using var m = new SymModel(Mlp(8), [new ReparamRequest("fc1.weight", "offset", 0.5, 1e-3, Method: "perturb", Axis: 0),
            new ReparamRequest("fc2.weight", "offset", 0.5, 1e-3, Method: "perturb", Axis: 1)], seed: 3);
        var t1 = m.state_dict()["fc1.weight.theta0"]; // [8, 64]: unit i = row i
        var t2 = m.state_dict()["fc2.weight.theta0"]; // [10, 8]: unit i = column i
        Assert.True(t1.allclose(t1[.., 0..1].expand(8, 64)));
        Assert.True(t2.allclose(t2[0..1, ..].expand(10, 8)));
        Assert.True(t1[.., 0].std().item<float>() > 0.1); // distinct units
        Assert.Equal(1e-3, m.RawWeightDecay["fc1.weight.value"]);
    }

    [Theory]
    [InlineData("sgd")]
    [InlineData("adamw")]
    public void Syre_optimizer_step_decays_theta_not_the_effective_parameter(string kind)
    {
        // The stored P = θ + θ₀ is trained; OptimizerStep lets the optimizer's weight decay act on θ = P − θ₀, exactly
        // as when θ itself is the trainable tensor (syre_diag keeps that layout, with the penalty instead of the decay).
        using var m = new SymModel(Mlp(8), [new ReparamRequest("fc1.weight", "offset", Sigma: 0.5, Decay: 0.1)], seed: 5);
        using var opt = kind == "sgd" ? (optim.Optimizer)optim.SGD(m.parameters(), 0.1, weight_decay: 0.1) : optim.AdamW(m.parameters(), 0.1, weight_decay: 0.1);
        var x = randn(4, 64);
        m.Forward(X(x))["logits"].pow(2).sum().backward();
        using var _ = no_grad();
        var value = m.named_parameters().First(np => np.name == "fc1.weight.value").parameter;
        var theta0 = m.state_dict()["fc1.weight.theta0"];
        var p0 = value.detach().clone();
        var g = value.grad!.detach().clone();
        m.OptimizerStep(opt);
        Assert.True(value.grad!.equal(g).all().item<bool>()); // gradients are left untouched
        // The first step of the optimizer on θ directly: SGD θ − lr (g + γ θ); AdamW θ (1 − lr γ) − lr g / (|g| + eps).
        var theta = p0 - theta0;
        var expected = (kind == "sgd" ? theta - 0.1 * (g + 0.1 * theta) : theta * (1 - 0.1 * 0.1) - 0.1 * g / (g.abs() + 1e-8)) + theta0;
        Assert.True(value.allclose(expected, 1e-5, 1e-6), $"max diff {(value - expected).abs().max().item<float>()}");
        var towardsZero = kind == "sgd" ? p0 - 0.1 * (g + 0.1 * p0) : p0 * (1 - 0.1 * 0.1) - 0.1 * g / (g.abs() + 1e-8);
        Assert.False(value.allclose(towardsZero, 1e-5, 1e-6)); // the decay pulls towards θ₀, not 0
    }

    [Fact]
    public void Syre_diag_adds_a_weighted_decay_penalty()
    {
        using var m = new SymModel(Mlp(8), [new ReparamRequest("fc1.weight", "offset", 0.1, 0.2, Method: "syre_diag")], seed: 3);
        var d = m.state_dict()["fc1.weight.decay_d"];
        Assert.InRange(d.min().item<float>(), 0.5f, 1.5f);
        Assert.InRange(d.max().item<float>(), 0.5f, 1.5f);
        Assert.Equal(0.0, m.RawWeightDecay["fc1.weight.theta"]);
        Assert.Contains("fc1.weight.decay_d", m.RawKeys["fc1.weight"]);
        var theta = m.state_dict()["fc1.weight.theta"];
        var expected = (theta.square() * d).sum().item<float>() * 0.1f;
        Assert.Equal(expected, m.Penalty()!.item<float>(), 5);
        using var plain = new SymModel(Mlp(8), [new ReparamRequest("fc1.weight", "offset", 0.1, 0.2)], seed: 3);
        Assert.Null(plain.Penalty());
    }

    [Fact]
    public void Offset_and_induce_compose_on_one_parameter()
    {
        using var plain = new SymModel(Mlp(8), seed: 7);
        using var m = new SymModel(Mlp(8), [new ReparamRequest("fc1.weight", "hadamard"), new ReparamRequest("fc1.weight", "offset", 0.1, 1e-3)], seed: 7);
        var sd = m.state_dict();
        Assert.Equal(["fc1.weight.u", "fc1.weight.v", "fc1.weight.theta0"], m.RawKeys["fc1.weight"]);
        Assert.DoesNotContain("fc1.weight.theta", sd.Keys);
        Assert.True(m.EffectiveParameter("fc1.weight").allclose(sd["fc1.weight.u"] * sd["fc1.weight.v"] + sd["fc1.weight.theta0"]));
        Assert.True((m.EffectiveParameter("fc1.weight") - sd["fc1.weight.theta0"]).allclose(plain.EffectiveParameter("fc1.weight"), 1e-5, 1e-6));
        Assert.Equal(1e-3, m.RawWeightDecay["fc1.weight.u"]);
        var target = randn(8, 64);
        m.SetEffectiveParameters(new Dictionary<string, Tensor> { ["fc1.weight"] = target });
        Assert.True(m.EffectiveParameter("fc1.weight").allclose(target, 1e-5, 1e-6));
        Assert.Throws<SymDslException>(() => new SymModel(Mlp(8), [new ReparamRequest("fc1.weight", "hadamard"), new ReparamRequest("fc1.weight", "factorized")]));
    }

    [Fact]
    public void Hadamard_and_factorized_start_at_the_plain_initialisation()
    {
        using var plain = new SymModel(Mlp(8), seed: 11);
        using var induced = new SymModel(Mlp(8), [new ReparamRequest("fc1.weight", "hadamard"), new ReparamRequest("fc2.weight", "factorized")], seed: 11);
        var sd = induced.state_dict();
        Assert.Contains("fc1.weight.u", sd.Keys);
        Assert.Contains("fc1.weight.v", sd.Keys);
        Assert.Equal(new long[] { 10, 8 }, sd["fc2.weight.U"].shape);
        Assert.Equal(new long[] { 8, 8 }, sd["fc2.weight.V"].shape);
        Assert.True(induced.EffectiveParameter("fc1.weight").allclose(plain.EffectiveParameter("fc1.weight"), 1e-5, 1e-6));
        Assert.True(induced.EffectiveParameter("fc2.weight").allclose(plain.EffectiveParameter("fc2.weight"), 1e-4, 1e-5));
        Assert.True((sd["fc1.weight.v"] >= 0).all().item<bool>());

        var target = randn(10, 8);
        induced.SetEffectiveParameters(new Dictionary<string, Tensor> { ["fc2.weight"] = target, ["fc1.weight"] = plain.EffectiveParameter("fc1.weight") * 2 });
        Assert.True(induced.EffectiveParameter("fc2.weight").allclose(target, 1e-4, 1e-5));
        Assert.True(induced.EffectiveParameter("fc1.weight").allclose(plain.EffectiveParameter("fc1.weight") * 2, 1e-5, 1e-6));
        // Gradients reach the factors.
        var loss = induced.Forward(X(randn(4, 64)))["logits"].pow(2).sum();
        loss.backward();
        Assert.NotNull(induced.named_parameters().First(np => np.name == "fc2.weight.U").parameter.grad);
    }

    [Fact]
    public void Forward_with_parameter_overrides_gives_gradients_wrt_effective_parameters()
    {
        using var m = new SymModel(Mlp(8), [new ReparamRequest("fc1.weight", "offset", 0.1, 0.0)], seed: 1);
        var x = randn(4, 64);
        var eff = m.EffectiveParameters().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone().requires_grad_());
        var loss = m.Forward(X(x), parameters: eff)["logits"].pow(2).sum();
        var g = autograd.grad([loss], [eff["fc1.weight"]], [ones_like(loss)])[0];
        Assert.Equal(new long[] { 8, 64 }, g.shape);
        // The same as the gradient w.r.t. the module's own stored P = theta + theta0 (= the gradient w.r.t. theta).
        var own = m.Forward(X(x))["logits"].pow(2).sum();
        own.backward();
        var theta = m.named_parameters().First(np => np.name == "fc1.weight.value").parameter;
        Assert.True((theta.grad!.detach() - g.detach()).abs().max().item<float>() < 1e-5);
        // Overriding with different values changes the output without touching the module.
        using var _ = no_grad();
        var zeroed = new Dictionary<string, Tensor> { ["fc2.weight"] = zeros(10, 8), ["fc2.bias"] = zeros(10) };
        Assert.Equal(0f, m.Forward(X(x), parameters: zeroed)["logits"].abs().sum().item<float>());
        Assert.NotEqual(0f, m.Forward(X(x))["logits"].abs().sum().item<float>());
    }

    [Fact]
    public void Factorized_with_a_rank_argument_is_low_rank()
    {
        using var m = new SymModel(Mlp(8), [new ReparamRequest("fc1.weight", "factorized", Rank: 2)]);
        Assert.Equal(new long[] { 8, 2 }, m.state_dict()["fc1.weight.U"].shape);
        var s = linalg.svdvals(m.EffectiveParameter("fc1.weight").detach());
        Assert.True(s[2].item<float>() < 1e-5);
        Assert.Throws<SymDslException>(() => new SymModel(Mlp(8), [new ReparamRequest("fc1.bias", "factorized")]));
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(4, true)]
    public void Self_attention_shapes_and_causality(int heads, bool causal)
    {
        using var m = new SymModel(Single(Attention(8, heads, causal), [5, 8], [5, 8]));
        Assert.Equal(new[] { "q", "k", "v", "o" }.SelectMany(n => new[] { $"attn.{n}.weight", $"attn.{n}.bias" }).OrderBy(k => k, StringComparer.Ordinal),
            m.state_dict().Keys.OrderBy(k => k, StringComparer.Ordinal));
        using var _ = no_grad();
        var x = randn(3, 5, 8);
        var y = m.Forward(X(x))["y"];
        Assert.Equal(new long[] { 3, 5, 8 }, y.shape);
        var x2 = x.clone();
        x2[.., 4] = randn(3, 8);
        var y2 = m.Forward(X(x2))["y"];
        // Changing the last token changes the first output only without a causal mask.
        Assert.Equal(!causal, !y[.., 0].allclose(y2[.., 0]));
    }

    [Fact]
    public void Single_head_attention_matches_the_formula()
    {
        using var m = new SymModel(Single(Attention(4, 1, false), [3, 4], [3, 4]));
        using var _ = no_grad();
        var x = randn(2, 3, 4);
        var p = m.EffectiveParameters();
        Tensor L(string n, Tensor t) => t.matmul(p[$"attn.{n}.weight"].t()) + p[$"attn.{n}.bias"];
        var a = nn.functional.softmax(L("q", x).matmul(L("k", x).transpose(1, 2)) / 2.0, -1);
        var expected = L("o", a.matmul(L("v", x)));
        Assert.True(m.Forward(X(x))["y"].allclose(expected, 1e-5, 1e-6));
    }

    [Theory]
    [InlineData("euler")]
    [InlineData("rk2")]
    [InlineData("rk4")]
    public void Rnn_integrators_give_every_hidden_state(string integrator)
    {
        using var m = new SymModel(Single(Rnn(3, 6, integrator), [7, 3], [7, 6]));
        using var _ = no_grad();
        var y = m.Forward(X(randn(2, 7, 3)))["y"];
        Assert.Equal(new long[] { 2, 7, 6 }, y.shape);
        Assert.True(y.isfinite().all().item<bool>());
    }

    [Fact]
    public void Rnn_integrators_follow_their_definitions()
    {
        using var euler = new SymModel(Single(Rnn(2, 3, "euler", dt: 1.0), [2, 2], [2, 3]), seed: 2);
        var p = euler.EffectiveParameters().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        using var _ = no_grad();
        var x = randn(1, 2, 2);
        var y = euler.Forward(X(x))["y"];
        var u0 = x[.., 0].matmul(p["rnn.input.weight"].t()) + p["rnn.bias"];
        // Euler with dt = 1 from h0 = 0: h1 = tanh(W_x x_0 + b), the classic RNN cell.
        Assert.True(y[.., 0].allclose(u0.tanh(), 1e-5, 1e-6));
        // Every integrator converges to the same trajectory as dt → 0 (compare at t = 2·dt... via small dt everywhere).
        var outs = new[] { "euler", "rk2", "rk4" }.Select(k =>
        {
            var model = new SymModel(Single(Rnn(2, 3, k, dt: 0.01), [2, 2], [2, 3]));
            model.SetEffectiveParameters(p);
            return model.Forward(X(x))["y"];
        }).ToList();
        Assert.True(outs[1].allclose(outs[2], 1e-6, 1e-6));
        Assert.True(outs[0].allclose(outs[2], 1e-3, 1e-4));
        // At dt = 1 the integrators differ.
        var rk4 = new SymModel(Single(Rnn(2, 3, "rk4", dt: 1.0), [2, 2], [2, 3]));
        rk4.SetEffectiveParameters(p);
        Assert.False(rk4.Forward(X(x))["y"].allclose(y));
    }

    [Fact]
    public void Embedding_looks_up_rows()
    {
        var layer = new LayerIR("emb", LayerKind.Embedding, Args(("vocab", I(11)), ("d", I(4))), [Param("emb.weight", 11, 4)], Span);
        using var m = new SymModel(Single(layer, [6], [6, 4], ElementType.Int64));
        using var _ = no_grad();
        var idx = tensor(new long[] { 0, 3, 10, 3, 1, 2, 5, 5, 5, 5, 5, 5 }).reshape(2, 6);
        var y = m.Forward(X(idx))["y"];
        Assert.Equal(new long[] { 2, 6, 4 }, y.shape);
        Assert.True(y[0, 2].allclose(m.EffectiveParameter("emb.weight")[10]));
    }

    [Fact]
    public void LayerNorm_normalises_the_last_dimension()
    {
        var layer = new LayerIR("ln", LayerKind.LayerNorm, Args(("n", I(16)), ("eps", D(1e-5)), ("affine", B(true))), [Param("ln.weight", 16), Param("ln.bias", 16)], Span);
        using var m = new SymModel(Single(layer, [3, 16], [3, 16]));
        using var _ = no_grad();
        var y = m.Forward(X(randn(2, 3, 16) * 5 + 3))["y"];
        Assert.Equal(new long[] { 2, 3, 16 }, y.shape);
        Assert.True(y.mean([-1]).abs().max().item<float>() < 1e-5);
        Assert.True((y.std(-1, unbiased: false) - 1).abs().max().item<float>() < 1e-3);
    }

    [Fact]
    public void Ops_and_activations_evaluate()
    {
        var g = new Graph();
        var x = g.Input("x", [4, 3]);
        var last = g.Op(OpKind.Last, [x], [3], "last");
        var mean = g.Op(OpKind.Mean, [x], [3], "mean");
        var flat = g.Op(OpKind.Flatten, [x], [12], "flat");
        var sum = g.Op(OpKind.Add, [last, mean], [3], "sum");
        var diff = g.Op(OpKind.Sub, [last, mean], [3], "diff");
        var prod = g.Op(OpKind.Mul, [sum, diff], [3], "prod");
        var scaled = g.Op(OpKind.Scale, [prod], [3], "scaled", ("factor", D(2.0)));
        var sm = g.Act("softmax", x, [4, 3], "sm", ("dim", I(0)));
        var lrelu = g.Act("leaky_relu", scaled, [3], "lrelu", ("negative_slope", D(0.5)));
        var acts = new[] { "relu", "tanh", "sigmoid", "gelu", "sin", "identity" }.Select(a => g.Act(a, flat, [12], a)).ToList();
        var model = new ModelIR("Ops", Args(), [new InputIR("x", [4, 3], ElementType.Float32, Span)], [], g.Nodes,
            [new OutputIR("out", lrelu), new OutputIR("sm", sm), .. acts.Select((id, i) => new OutputIR("a" + i, id))], [], Span);
        using var m = new SymModel(model);
        var input = randn(2, 4, 3);
        var cap = new Dictionary<string, Tensor>();
        var outs = m.Forward(X(input), new HashSet<string> { "last", "mean", "flat", "scaled" }, cap);
        Assert.True(cap["last"].allclose(input[.., 3]));
        Assert.True(cap["mean"].allclose(input.mean([1])));
        Assert.Equal(new long[] { 2, 12 }, cap["flat"].shape);
        var l = input[.., 3]; var mu = input.mean([1]);
        var expected = (l + mu) * (l - mu) * 2;
        Assert.True(cap["scaled"].allclose(expected, 1e-5, 1e-6));
        Assert.True(outs["out"].allclose(nn.functional.leaky_relu(expected, 0.5), 1e-5, 1e-6));
        // softmax over per-example dim 0 = the tensor's dim 1.
        Assert.True(outs["sm"].sum([1]).allclose(ones(2, 3)));
        Assert.True(outs["a4"].allclose(input.flatten(1).sin()));
        Assert.True(outs["a5"].allclose(input.flatten(1)));
    }

    [Fact]
    public void Init_specs_are_honoured()
    {
        var g = new Graph();
        var x = g.Input("x", [32]);
        var names = new[] { "n", "o", "z", "one", "u" };
        var specs = new[] { new InitSpec("normal", 0.001), new InitSpec("orthogonal", 1.0), new InitSpec("zeros", 0), new InitSpec("ones", 0), new InitSpec("uniform", 0.25) };
        var layers = names.Select((n, i) => Linear(n, 32, 32, bias: false, init: specs[i])).ToList();
        var last = x;
        foreach (var n in names) last = g.Layer(n, last, [32]);
        var model = new ModelIR("Init", Args(), [new InputIR("x", [32], ElementType.Float32, Span)], layers, g.Nodes, [new OutputIR("y", last)], [], Span);
        using var m = new SymModel(model);
        var p = m.EffectiveParameters();
        Assert.InRange(p["n.weight"].std().item<float>(), 0.0009, 0.0011);
        Assert.True(p["o.weight"].matmul(p["o.weight"].t()).allclose(eye(32), 1e-4, 1e-4));
        Assert.Equal(0f, p["z.weight"].abs().sum().item<float>());
        Assert.Equal(32f * 32f, p["one.weight"].sum().item<float>());
        Assert.True(p["u.weight"].abs().max().item<float>() <= 0.25f);
        Assert.True(p["u.weight"].abs().max().item<float>() > 0.2f);
        // Default Linear init: U(±1/√in).
        using var mlp = new SymModel(Mlp(8));
        Assert.True(mlp.EffectiveParameter("fc1.weight").abs().max().item<float>() <= 1 / 8f);
    }

    [Fact]
    public void Wrong_input_shape_at_forward_is_a_clear_error()
    {
        using var m = new SymModel(Mlp(8));
        var e = Assert.Throws<SymDslException>(() => m.Forward(X(randn(2, 32))));
        Assert.Contains("[64]", e.Message);
        Assert.Contains("[32]", e.Message);
    }
}
