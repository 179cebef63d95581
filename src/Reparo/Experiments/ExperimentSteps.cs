namespace Reparo.Experiments;

/// <summary>One step of an experiment: what to run (a record that serialises to JSON) and the model file it reads, if any.</summary>
/// <typeparam name="TStep">The experiment's step.</typeparam>
/// <param name="Step">What to run.</param>
/// <param name="ModelPath">The model file the step reads (null: none; the step trains what it needs).</param>
public sealed record ExperimentStep<TStep>(TStep Step, string? ModelPath);

/// <summary>
/// Where an experiment's steps run. An experiment plans independent steps, each a record and the model file it reads, and hands
/// them to a runner with its step function; <see cref="InProcessStepRunner"/> calls that function for each step here, one
/// after another; a cluster runner (<c>reparo experiment … --cluster</c>) sends the steps to workers, which read the
/// experiment's command line and call the same function on each, so the results are the same.
/// </summary>
public interface IExperimentStepRunner
{
    /// <summary>Runs every step and reports each result as it is recorded.</summary>
    /// <typeparam name="TStep">The experiment's step.</typeparam>
    /// <typeparam name="TResult">The step's result (a record that serialises to JSON).</typeparam>
    /// <param name="experiment">The experiment's name (<c>rectification</c>, …): a worker finds its step function by it.</param>
    /// <param name="steps">The steps, in plan order.</param>
    /// <param name="runHere">The experiment's step function: a step and the local path of its model file (null: none) to the result.</param>
    /// <param name="recorded">Called with a step's index in <paramref name="steps"/> and its result, once per step, in the order they finish.</param>
    void Run<TStep, TResult>(string experiment, IReadOnlyList<ExperimentStep<TStep>> steps, Func<TStep, string?, TResult> runHere, Action<int, TResult> recorded);
}

/// <summary>Runs an experiment's steps in this process, one after another in plan order.</summary>
public sealed class InProcessStepRunner : IExperimentStepRunner
{
    /// <summary>The runner.</summary>
    public static InProcessStepRunner Instance { get; } = new();

    private InProcessStepRunner()
    {
    }

    /// <inheritdoc/>
    public void Run<TStep, TResult>(string experiment, IReadOnlyList<ExperimentStep<TStep>> steps, Func<TStep, string?, TResult> runHere, Action<int, TResult> recorded)
    {
        for (int i = 0; i < steps.Count; i++) recorded(i, runHere(steps[i].Step, steps[i].ModelPath));
    }
}
