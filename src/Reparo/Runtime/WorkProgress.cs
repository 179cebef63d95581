namespace Reparo.Runtime;

/// <summary>
/// Progress of long library work, reported to a sink the caller installs once (the command line installs one per
/// command). A long loop opens a <see cref="ProgressScope"/> with a name and, when known, its number of steps, advances
/// it and disposes it; scopes opened inside an open one nest under it.
/// </summary>
/// <remarks>
/// The sink is ambient (an <see cref="AsyncLocal{T}"/>) rather than a parameter, so that every loop can report without
/// threading a progress argument through every signature; without a sink every scope is silent and costs a counter.
/// Progress only observes: no result depends on it. Only the owning loop reports: a scope opened on another thread or
/// inside another task than the innermost open scope (a <see cref="Parallel"/> body, for instance) is silent, so
/// concurrent bodies never interleave nested scopes; advancing an open scope from worker threads is safe. Notes that
/// are results (the <see cref="IProgress{T}"/> of <c>string</c> lines a study reports) stay as they are.
/// </remarks>
public static class WorkProgress
{
    private static readonly AsyncLocal<Owner?> Ambient = new();

    /// <summary>
    /// Reports every scope opened from here on, in this flow of execution, to <paramref name="sink"/>, timed by
    /// <paramref name="clock"/> (the system's by default) until the returned handle is disposed.
    /// </summary>
    public static IDisposable ReportTo(IProgressSink sink, TimeProvider? clock = null)
    {
        Owner? previous = Ambient.Value;
        Ambient.Value = new Owner(sink, clock ?? TimeProvider.System, 0);
        return new Restore(previous);
    }

    /// <summary>Opens a scope named <paramref name="name"/> of <paramref name="total"/> steps (null when unknown); dispose it when the work ends.</summary>
    public static ProgressScope Begin(string name, long? total = null)
    {
        Owner? owner = Ambient.Value;
        if (owner is null || !owner.IsCurrent) return new ProgressScope(name, total, 0, null, TimeProvider.System, null);
        var scope = new ProgressScope(name, total, owner.Depth, owner.Sink, owner.Clock, owner);
        Ambient.Value = new Owner(owner.Sink, owner.Clock, owner.Depth + 1);
        owner.Sink.Opened(scope);
        return scope;
    }

    /// <summary>Puts back the owner that was current when a scope opened.</summary>
    internal static void Reinstate(Owner owner) => Ambient.Value = owner;

    /// <summary>Who reports: the sink, its clock, the depth of the next scope, and the thread and task that own it.</summary>
    internal sealed class Owner(IProgressSink sink, TimeProvider clock, int depth)
    {
        private readonly int thread = Environment.CurrentManagedThreadId;
        private readonly int? task = Task.CurrentId;

        public IProgressSink Sink { get; } = sink;

        public TimeProvider Clock { get; } = clock;

        public int Depth { get; } = depth;

        /// <summary>Whether the calling code is the owning loop itself, not a concurrent body it started.</summary>
        public bool IsCurrent => thread == Environment.CurrentManagedThreadId && task == Task.CurrentId;
    }

    private sealed class Restore(Owner? previous) : IDisposable
    {
        public void Dispose() => Ambient.Value = previous;
    }
}

/// <summary>One long task's progress: its name, steps done of how many, a changing detail, elapsed time and an estimate of the time left.</summary>
public sealed class ProgressScope : IDisposable
{
    private readonly IProgressSink? sink;
    private readonly TimeProvider clock;
    private readonly WorkProgress.Owner? owner;
    private readonly long started;
    private long done;
    private volatile string? detail;
    private int closed;

    internal ProgressScope(string name, long? total, int depth, IProgressSink? sink, TimeProvider clock, WorkProgress.Owner? owner)
    {
        if (total is < 0) throw new ArgumentOutOfRangeException(nameof(total), total, "a task's step count cannot be negative");
        Name = name;
        Total = total;
        Depth = depth;
        this.sink = sink;
        this.clock = clock;
        this.owner = owner;
        started = clock.GetTimestamp();
    }

    /// <summary>What the work is, e.g. <c>train mlp</c>.</summary>
    public string Name { get; }

    /// <summary>Steps in all, or null when unknown (an indeterminate task: a spinner and the time elapsed).</summary>
    public long? Total { get; }

    /// <summary>How many open scopes enclose this one (0 for the outermost).</summary>
    public int Depth { get; }

    /// <summary>Steps done so far.</summary>
    public long Done => Interlocked.Read(ref done);

    /// <summary>The latest detail, e.g. <c>epoch 3/10 loss 0.412</c>, or null.</summary>
    public string? Detail => detail;

    /// <summary>Time since the scope opened.</summary>
    public TimeSpan Elapsed => clock.GetElapsedTime(started);

    /// <summary>
    /// The time left at the pace so far, elapsed ÷ done × (total − done); null while nothing is done or the total is
    /// unknown.
    /// </summary>
    public TimeSpan? Remaining
    {
        get
        {
            long finished = Done;
            if (Total is not long total || finished <= 0) return null;
            return Elapsed * ((double)Math.Max(total - finished, 0) / finished);
        }
    }

    /// <summary>Records <paramref name="steps"/> more steps done (from any thread).</summary>
    public void Advance(long steps = 1)
    {
        Interlocked.Add(ref done, steps);
        sink?.Advanced(this);
    }

    /// <summary>Replaces the detail shown after the name.</summary>
    public void Describe(string text)
    {
        detail = text;
        sink?.Advanced(this);
    }

    /// <summary>Closes the scope: the sink stops showing it and later scopes nest where this one did.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref closed, 1) == 1 || owner is null) return;
        WorkProgress.Reinstate(owner);
        sink!.Closed(this);
    }
}

/// <summary>Receives the progress of scopes (<see cref="WorkProgress"/>); it may be called from any thread and must not throw.</summary>
public interface IProgressSink
{
    /// <summary>A scope opened.</summary>
    void Opened(ProgressScope scope);

    /// <summary>A scope advanced or changed its detail.</summary>
    void Advanced(ProgressScope scope);

    /// <summary>A scope closed.</summary>
    void Closed(ProgressScope scope);
}
