using SymDsl.Diagnostics;
using SymDsl.IR;
using SymDsl.Torch.Data;
using SymDsl.Torch.Lowering;
using SymDsl.Torch.Runtime;
using static TorchSharp.torch;

namespace SymDsl.Torch.Training;

/// <summary>One class's share of an evaluation: how many examples (or label positions) carry label <see cref="Class"/>, and how many of them the model got right.</summary>
public sealed record ClassScore(int Class, long Count, long Correct)
{
    /// <summary>Correct / Count; null for a class with no example.</summary>
    public double? Accuracy => Count > 0 ? (double)Correct / Count : null;
}

/// <summary>
/// The scores of a model on one split: the mean loss of the train block (over examples), the accuracy when the loss
/// takes class labels (over label positions: a sequence output counts each position), and per-class counts when asked.
/// </summary>
public sealed record EvalScores(long Examples, double Loss, double? Accuracy, IReadOnlyList<ClassScore>? PerClass);

/// <summary>
/// The one definition of the metrics a run reports on its data: used by the trainer for its test metrics and the final
/// summary, and by <c>symc eval</c>, so that evaluating a run's final weights on its own test split gives its
/// summary.json's numbers.
/// </summary>
public static class Evaluation
{
    /// <summary>Examples per forward pass of an evaluation.</summary>
    public const int Chunk = 1024;

    /// <summary>
    /// Scores <paramref name="model"/> (put it in evaluation mode first for BatchNorm's running statistics and no dropout)
    /// on <paramref name="fields"/> (prepared by <see cref="Validate"/>), without gradients, in chunks of
    /// <see cref="Chunk"/> examples: the loss of <paramref name="train"/>'s loss kind, averaged over examples; the accuracy
    /// (argmax of the output against the labels) when <paramref name="classes"/> is not null; with
    /// <paramref name="perClass"/>, per-class counts too. No example: NaN loss, no accuracy.
    /// </summary>
    public static EvalScores Score(SymModel model, TrainIR train, IReadOnlyDictionary<string, Tensor> fields, int? classes, bool perClass = false)
    {
        var n = fields.Values.First().shape[0];
        if (n == 0) return new EvalScores(0, double.NaN, null, null);
        using var native = NativeSection.Enter();
        using var _ = no_grad();
        double lossSum = 0;
        long correct = 0, counted = 0;
        var totals = perClass && classes is { } k0 ? new long[k0] : null;
        var rights = totals is null ? null : new long[totals.Length];
        for (long from = 0; from < n; from += Chunk)
        {
            using var scope = NewDisposeScope();
            var len = Math.Min(Chunk, n - from);
            var b = fields.ToDictionary(kv => kv.Key, kv => kv.Value.narrow(0, from, len));
            var output = model.Forward(b)[train.Loss.Output];
            var target = b[train.Loss.Target];
            lossSum += Trainer.LossOf(train.Loss.Kind, output, target).to_type(ScalarType.Float64).item<double>() * len; // exact for a float32 loss; float64 models keep their precision
            if (classes is { } k)
            {
                var hit = output.argmax(-1).eq(target);
                correct += hit.sum().item<long>();
                counted += target.numel();
                if (totals is not null)
                {
                    var labels = target.flatten().cpu();
                    Add(totals, labels.bincount(null, k));
                    Add(rights!, labels.masked_select(hit.flatten().cpu()).bincount(null, k));
                }
            }
        }
        return new EvalScores(n, lossSum / n, classes is not null ? (double)correct / counted : null,
            totals?.Select((c, i) => new ClassScore(i, c, rights![i])).ToList());
    }

    static void Add(long[] sums, Tensor counts)
    {
        var values = counts.to_type(ScalarType.Int64).data<long>().ToArray();
        for (var i = 0; i < Math.Min(sums.Length, values.Length); i++) sums[i] += values[i];
    }

    /// <summary>
    /// Checks that every model input's data field (<see cref="TrainIR.InputBindings"/>, decided by the checker) has the
    /// input's per-example shape (or as many entries: then it is reshaped) and type, that the loss target exists and fits
    /// the output (labels within the class count for cross_entropy). Casts integer features to float32 for float inputs.
    /// Each split then holds every input under the input's name (the model reads inputs by name; the checker binds an
    /// input to a field of another name only when no field has the input's name). Returns the number of classes
    /// (cross_entropy) and the output's per-example shape.
    /// </summary>
    public static (int? classes, IReadOnlyList<int> outputShape) Validate(ModelIR model, TrainIR train, DataSet data)
    {
        string Shape(IEnumerable<long> s) => "[" + string.Join(", ", s) + "]";
        var fieldsList = string.Join(", ", data.Train.Keys);
        foreach (var input in model.Inputs)
        {
            var fieldName = train.FieldOf(input.Name);
            if (!data.Train.TryGetValue(fieldName, out var field))
                throw new SymDslException($"data source {train.Data.Kind} has no field \"{fieldName}\" for model input {input.Name} (fields: {fieldsList})");
            if (fieldName != input.Name)
            {
                // A view of the field under the input's name (its own handle: the DataSet disposes every entry).
                if (data.Train.ContainsKey(input.Name)) throw new InvalidOperationException($"input {input.Name} reads field {fieldName}, but the data also have a field {input.Name}");
                foreach (var split in new[] { data.Train, data.Test })
                    if (split.TryGetValue(fieldName, out var t)) split[input.Name] = t.alias();
                field = data.Train[input.Name];
            }
            var fshape = field.shape.Skip(1).ToArray();
            var ishape = input.Shape.Select(d => (long)d).ToArray();
            if (!fshape.SequenceEqual(ishape))
            {
                // Same number of entries per example: a reshape (digits [64] read as [8, 8] rows by an RNN).
                if (fshape.Aggregate(1L, (a, d) => a * d) != ishape.Aggregate(1L, (a, d) => a * d))
                    throw new SymDslException($"data field \"{fieldName}\" has per-example shape {Shape(fshape)} but model input {input.Name} is declared {Shape(ishape)}");
                foreach (var split in new[] { data.Train, data.Test })
                    if (split.TryGetValue(input.Name, out var t)) { split[input.Name] = t.reshape([t.shape[0], .. ishape]).contiguous(); t.Dispose(); }
                field = data.Train[input.Name];
            }
            if (input.Type == ElementType.Float32 && field.dtype != ScalarType.Float32)
                foreach (var split in new[] { data.Train, data.Test })
                    if (split.TryGetValue(input.Name, out var t)) { split[input.Name] = t.to_type(ScalarType.Float32); t.Dispose(); }
            if (input.Type == ElementType.Int64 && field.is_floating_point())
                throw new SymDslException($"model input {input.Name} takes integer indices but data field \"{fieldName}\" holds floating-point values");
        }
        var outputIR = model.Outputs.FirstOrDefault(o => o.Name == train.Loss.Output)
            ?? throw new SymDslException($"the loss uses output {train.Loss.Output}, which model {model.Name} does not define");
        var outShape = model.Node(outputIR.Node).Shape;
        if (!data.Train.TryGetValue(train.Loss.Target, out var target))
            throw new SymDslException($"data source {train.Data.Kind} has no field \"{train.Loss.Target}\" for the loss target (fields: {fieldsList})");
        var tshape = target.shape.Skip(1).ToArray();
        var loss = Vocabulary.Losses.Find(train.Loss.Kind) ?? throw new SymDslException($"unknown loss {train.Loss.Kind} ({string.Join(", ", Vocabulary.Losses.Names)})");
        if (loss.NeedsLabels)
        {
            if (outShape.Count == 0) throw new SymDslException($"{loss.Name} needs class logits, but output {outputIR.Name} is a scalar per example");
            var k = outShape[^1];
            if (!tshape.SequenceEqual(outShape.Take(outShape.Count - 1).Select(d => (long)d)))
                throw new SymDslException($"{loss.Name}: label field \"{train.Loss.Target}\" has per-example shape {Shape(tshape)} but output {outputIR.Name} {Shape(outShape.Select(d => (long)d))} needs {Shape(outShape.Take(outShape.Count - 1).Select(d => (long)d))}");
            foreach (var (splitName, split) in new[] { ("training", data.Train), ("test", data.Test) })
            {
                if (!split.TryGetValue(train.Loss.Target, out var labels) || labels.numel() == 0) continue;
                if (labels.is_floating_point())
                    throw new SymDslException($"{loss.Name} needs integer class labels, but field \"{train.Loss.Target}\" holds floating-point values");
                var max = labels.max().item<long>();
                var min = labels.min().item<long>();
                if (min < 0 || max >= k)
                {
                    var bad = min < 0 ? min : max;
                    // A label from a file is reported at its row (the first row holding it).
                    var where = data.LabelOrigins is { } origins && origins.TryGetValue(bad, out var origin) ? $"{origin}: " : "";
                    throw new SymDslException($"{where}label {bad} in the {splitName} data is outside the {k} classes of output {outputIR.Name} (labels must be 0..{k - 1})");
                }
            }
            return (k, outShape);
        }
        // A real-valued target of the output's shape.
        if (!tshape.SequenceEqual(outShape.Select(d => (long)d)))
            throw new SymDslException($"{loss.Name}: target field \"{train.Loss.Target}\" has per-example shape {Shape(tshape)} but output {outputIR.Name} has shape {Shape(outShape.Select(d => (long)d))}");
        foreach (var split in new[] { data.Train, data.Test })
            if (split.TryGetValue(train.Loss.Target, out var t) && t.dtype != ScalarType.Float32) { split[train.Loss.Target] = t.to_type(ScalarType.Float32); t.Dispose(); }
        return (null, outShape);
    }
}
