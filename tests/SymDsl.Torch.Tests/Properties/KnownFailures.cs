namespace SymDsl.Torch.Tests.Properties;

/// <summary>
/// Failures of the inference (main at 06aaac2, "Symmetry calculus") that the suite's seeds 1..100 show: true symmetries
/// it denies or misses, each verified numerically in float64 (relative error ≤ 1e-15). They are reported to the lead,
/// not fixed here (keys as <see cref="SymmetryProperties"/> writes them; run the Sweep test on a seed to see the model).
/// The suite fails on any other failure, and on a key here that no longer fails: delete it then.
/// </summary>
public static class KnownFailures
{
    public static readonly IReadOnlySet<string> Keys = new HashSet<string>
    {
        // Translation. A shift of one operand of `+` or `-` shifts the sum; the calculus puts every operand of a sum in the
        // translation space and asks all of them to shift, so `z = h + fc(g)` feeding a softmax or a cross-entropy output is
        // denied when h cannot shift (h = softmax(…), sigmoid(…), an input): e.g. seed 49, `z5 = h1 + h4` with
        // h1 = softmax(h0), `y0 = softmax(z5)`: shifting fc2.bias leaves y0 unchanged. And a LayerNorm absorbs a shift
        // (LN(z + c·1) = LN(z), with or without eps), which the calculus does not use: seeds 5, 51, 60 (and beyond the suite's seeds: 107, 140, 144, 159, 172, 174, 177, 180, 198 in
        // bench/out/symmetry-properties.txt).
        "seed 5: loss: none search translation of fc0.bias",
        "seed 30: loss: cross_entropy on y0, y1, y2 search translation of fc4.bias",
        "seed 32: loss: none missed translation(h9)",
        "seed 38: loss: none search translation of fc6.bias",
        "seed 49: loss: none missed translation(z5)",
        "seed 49: loss: cross_entropy on y0 missed translation(z5)",
        "seed 51: loss: none search translation of fc3.bias",
        "seed 60: loss: none missed translation(h3)",
        "seed 60: loss: none search translation of attn0.o.bias",
        "seed 60: loss: cross_entropy on y0 missed translation(h3)",
        "seed 60: loss: cross_entropy on y0 search translation of attn0.o.bias",
        "seed 74: loss: none missed translation(z7)",
        "seed 80: loss: none search translation of fc4.bias",
        "seed 94: loss: none search translation of fc2.bias",
        "seed 94: loss: cross_entropy on y0 search translation of fc2.bias",

        // Sign through a product. When both factors of `a * b` are in the sign space (b = tanh(a), or two LayerNorm
        // outputs flipped through their gains and biases), a sign flip leaves the product unchanged; the calculus says
        // "the product (*) moves with both factors" (necessary): seed 79, `h6 = h0 * tanh(h0)` with h0 = emb0(tokens)
        // (flip emb0's columns); seed 152 (beyond the suite's seeds), `h8 = ln4(…) * sin(ln2(…))`.
        "seed 79: loss: none search sign of the units of {h0, h5} (dim 6)",
        "seed 79: loss: cross_entropy on y0 search sign of the units of {h0, h5} (dim 6)",
    };
}
