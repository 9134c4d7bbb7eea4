using SymDsl.Diagnostics;
using SymDsl.IR;

namespace SymDsl.Torch.Training;

/// <summary>
/// Learning-rate schedules, as a function of the 0-based step index s out of T total steps:
/// <list type="bullet">
/// <item>constant: lr.</item>
/// <item>step(every, gamma): lr·gamma^⌊s / every⌋.</item>
/// <item>cosine(min_lr): min_lr + (lr − min_lr)(1 + cos(π s / T)) / 2.</item>
/// <item>warmup(steps): lr·min(1, (s + 1) / steps), constant afterwards.</item>
/// </list>
/// Combination: every schedule also accepts a <c>warmup</c> argument (steps, default 0): a linear warm-up over the
/// first <c>warmup</c> steps that multiplies the schedule, whose own clock (and T for cosine) starts after the warm-up.
/// <c>warmup(steps)</c> is the same as <c>constant(warmup = steps)</c>.
/// </summary>
public sealed class Schedule
{
    readonly string _kind;
    readonly double _lr, _gamma, _minLr;
    readonly long _every, _warmup, _total;

    public Schedule(ScheduleIR? ir, double lr, long totalSteps)
    {
        _kind = ir?.Kind ?? "constant";
        _lr = lr;
        _total = Math.Max(1, totalSteps);
        var a = ir?.Args ?? new Dictionary<string, Value>();
        _warmup = _kind == "warmup" ? a.Int("steps", a.Int("warmup", 0)) : a.Int("warmup", 0);
        _every = a.Int("every", 1);
        _gamma = a.Double("gamma", 0.1);
        _minLr = a.Double("min_lr", 0.0);
        if (_kind is not ("constant" or "step" or "cosine" or "warmup"))
            throw new SymDslException($"unknown schedule {_kind} (constant, step, cosine, warmup)");
        if (_every < 1) throw new SymDslException($"schedule step: every must be at least 1, got {_every}");
        if (_warmup < 0) throw new SymDslException($"schedule: warmup must be non-negative, got {_warmup}");
    }

    public double At(long step)
    {
        var warm = _warmup > 0 && step < _warmup ? (step + 1) / (double)_warmup : 1.0;
        var s = Math.Max(0, step - _warmup);
        var t = Math.Max(1, _total - _warmup);
        var lr = _kind switch
        {
            "step" => _lr * Math.Pow(_gamma, s / _every),
            "cosine" => _minLr + (_lr - _minLr) * (1 + Math.Cos(Math.PI * Math.Min(s, t) / t)) / 2,
            _ => _lr,
        };
        return lr * warm;
    }
}
