using System.Collections.Concurrent;
using Reparo.Runtime;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Reparo.Cli;

/// <summary>
/// Draws the library's open progress scopes (<see cref="WorkProgress"/>) as live bars on a console over stderr: name and
/// detail, bar, percentage, elapsed time, time left (elapsed ÷ done × remaining) and a spinner; a scope of unknown length
/// shows a pulsing bar with its elapsed time. A scope is drawn only once it has run <see cref="DrawAfter"/>, so short
/// tasks draw nothing, and the bars are cleared when the last scope closes, before the command prints its result.
/// </summary>
public sealed class ProgressDisplay : IProgressSink, IDisposable
{
    private static readonly TimeSpan Refresh = TimeSpan.FromMilliseconds(100);
    private readonly IAnsiConsole console;
    private readonly TextWriter plain;
    private readonly object gate = new();
    private readonly List<ProgressScope> open = [];
    private readonly ConcurrentDictionary<int, ProgressScope> drawn = new();
    private Thread? drawer;
    private volatile bool drawing;
    private bool disposed;

    /// <summary>Draws on <paramref name="console"/>; notes go to <paramref name="plain"/> while no bar is drawn.</summary>
    public ProgressDisplay(IAnsiConsole console, TextWriter plain)
    {
        this.console = console;
        this.plain = plain;
    }

    /// <summary>How long a scope runs before it is drawn.</summary>
    public static TimeSpan DrawAfter { get; } = TimeSpan.FromSeconds(2);

    /// <summary>The open scopes that have run at least <see cref="DrawAfter"/>, outermost first.</summary>
    public IReadOnlyList<ProgressScope> Due()
    {
        lock (gate) return open.Where(s => s.Elapsed >= DrawAfter).ToList();
    }

    /// <summary>Writes a note line on stderr: above the bars while they are drawn, plainly otherwise.</summary>
    public void Note(string text)
    {
        if (drawing) console.WriteLine(text);
        else plain.WriteLine(text);
    }

    /// <inheritdoc/>
    public void Opened(ProgressScope scope)
    {
        lock (gate)
        {
            open.Add(scope);
            Monitor.PulseAll(gate);
            if (drawer is not null) return;
            drawer = new Thread(Draw) { IsBackground = true, Name = "reparo progress" };
            drawer.Start();
        }
    }

    /// <inheritdoc/>
    /// <remarks>Nothing to do: the bars read their scopes at every refresh.</remarks>
    public void Advanced(ProgressScope scope)
    {
    }

    /// <inheritdoc/>
    /// <remarks>When the last scope closes while bars are drawn, waits until they are cleared, so the command's result prints after them.</remarks>
    public void Closed(ProgressScope scope)
    {
        lock (gate)
        {
            open.Remove(scope);
            if (open.Count > 0) return;
            Monitor.PulseAll(gate);
            while (drawing) Monitor.Wait(gate);
        }
    }

    /// <summary>Stops drawing, clearing any bar.</summary>
    public void Dispose()
    {
        Thread? finishing;
        lock (gate)
        {
            disposed = true;
            open.Clear();
            finishing = drawer;
            Monitor.PulseAll(gate);
        }
        finishing?.Join();
    }

    /// <summary>The drawing thread: waits until a scope is due, draws until every scope has closed, and waits again.</summary>
    private void Draw()
    {
        while (true)
        {
            lock (gate)
            {
                while (!disposed && !open.Any(s => s.Elapsed >= DrawAfter))
                {
                    if (open.Count == 0) Monitor.Wait(gate);
                    else Monitor.Wait(gate, Refresh);
                }
                if (disposed) return;
                drawing = true;
            }
            try
            {
                console.Progress().AutoClear(true).HideCompleted(true).Columns(
                        new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(),
                        new ScopeColumn(drawn, s => s.Total is long total && total > 0 ? $"{100.0 * s.Done / total,3:F0}%" : ""),
                        new ScopeColumn(drawn, s => Clock(s.Elapsed)),
                        new ScopeColumn(drawn, s => s.Remaining is TimeSpan left ? $"eta {Clock(left)}" : ""),
                        new SpinnerColumn())
                    .Start(Update);
            }
            finally
            {
                drawn.Clear();
                lock (gate)
                {
                    drawing = false;
                    Monitor.PulseAll(gate);
                }
            }
        }
    }

    private void Update(ProgressContext context)
    {
        var tasks = new Dictionary<ProgressScope, ProgressTask>();
        while (true)
        {
            List<ProgressScope> due;
            lock (gate)
            {
                if (open.Count == 0 || disposed) return;
                due = open.Where(s => s.Elapsed >= DrawAfter).ToList();
            }
            foreach (ProgressScope gone in tasks.Keys.Except(due).ToList())
            {
                tasks[gone].StopTask();
                drawn.TryRemove(tasks[gone].Id, out _);
                tasks.Remove(gone);
            }
            foreach (ProgressScope scope in due)
            {
                if (!tasks.TryGetValue(scope, out ProgressTask? task))
                {
                    task = context.AddTask(Describe(scope), maxValue: Math.Max(scope.Total ?? 1, 1));
                    task.IsIndeterminate = scope.Total is null;
                    drawn[task.Id] = scope;
                    tasks[scope] = task;
                }
                task.Description = Describe(scope);
                if (scope.Total is not null) task.Value = scope.Done;
            }
            lock (gate)
            {
                if (open.Count > 0 && !disposed) Monitor.Wait(gate, Refresh);
            }
        }
    }

    /// <summary>Name and detail; a nested scope is marked └, with one ─ more per level (the column trims leading spaces).</summary>
    private static string Describe(ProgressScope scope) =>
        Markup.Escape((scope.Depth == 0 ? "" : "└" + new string('─', scope.Depth - 1) + " ") + scope.Name + (scope.Detail is string detail ? $" {detail}" : ""));

    private static string Clock(TimeSpan time) => $"{(int)time.TotalHours}:{time:mm\\:ss}";

    /// <summary>A column of text read from the scope a task draws.</summary>
    private sealed class ScopeColumn(ConcurrentDictionary<int, ProgressScope> drawn, Func<ProgressScope, string> text) : ProgressColumn
    {
        protected override bool NoWrap => true;

        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text(drawn.TryGetValue(task.Id, out ProgressScope? scope) ? text(scope) : "");
    }
}
