using System.Diagnostics;

namespace SymDsl.Torch.Training;

/// <summary>A run's clocks: its wall time (with the earlier processes' on a resume) and the time spent in optimizer steps.</summary>
sealed class RunClock(double previousWallSeconds)
{
    readonly Stopwatch _clock = Stopwatch.StartNew();

    /// <summary>Seconds since this process started the run.</summary>
    public double ElapsedSeconds => _clock.Elapsed.TotalSeconds;
    /// <summary>The run's wall time: the earlier processes' (a resume) and this one's.</summary>
    public double WallSeconds => previousWallSeconds + ElapsedSeconds;
    /// <summary><see cref="Stopwatch"/> ticks spent in optimizer steps (batch gather, forward, backward, update) by this process.</summary>
    public long StepTicks { get; set; }
}
