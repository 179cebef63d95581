namespace Reparo.Influence;

/// <summary>
/// One step of an abstract trace as the influence index keys it (Xie et al., ICML'21, Sec. 3.2: a transition of the
/// abstract model, labelled with the prediction before and after it and with the input symbol read).
/// </summary>
/// <param name="PreviousState">State before the step (0 = the virtual start).</param>
/// <param name="PreviousLabel">Per-step prediction before the step (0 at the virtual start, as in the authors' code).</param>
/// <param name="Symbol">Input symbol read: the token id for text, 0 for image rows.</param>
/// <param name="Label">Per-step prediction after the step.</param>
/// <param name="State">State after the step (1..K).</param>
public readonly record struct Transition(int PreviousState, int PreviousLabel, int Symbol, int Label, int State);

/// <summary>
/// The abstract trace of one input (Sec. 3.2): its abstract state and per-step prediction after every real step, the
/// symbols read, the network's final prediction and the true label. Steps are numbered 1..T; step 0 is the virtual
/// start state 0.
/// </summary>
/// <param name="States">Abstract state (1..K) after steps 1..T.</param>
/// <param name="StepLabels">Per-step prediction after steps 1..T.</param>
/// <param name="Symbols">Symbol read at steps 1..T.</param>
/// <param name="Prediction">The network's prediction for the input.</param>
/// <param name="Label">The input's true label.</param>
public sealed record AbstractTrace(int[] States, int[] StepLabels, int[] Symbols, long Prediction, long Label)
{
    /// <summary>Number of real steps T.</summary>
    public int Length => States.Length;

    /// <summary>Whether the network gets this input wrong.</summary>
    public bool Failing => Prediction != Label;

    /// <summary>The state sequence starting with the virtual start state: 0, s₁, …, s_T.</summary>
    public int[] Path() => [0, .. States];

    /// <summary>The transition into step <paramref name="step"/> (1..T).</summary>
    public Transition TransitionInto(int step)
    {
        if (step < 1 || step > Length) throw new ArgumentOutOfRangeException(nameof(step), $"steps are 1..{Length}, got {step}");
        return step == 1
            ? new Transition(0, 0, Symbols[0], StepLabels[0], States[0])
            : new Transition(States[step - 2], StepLabels[step - 2], Symbols[step - 1], StepLabels[step - 1], States[step - 1]);
    }

    /// <summary>All T transitions, the one out of the virtual start first.</summary>
    public Transition[] Transitions() => Enumerable.Range(1, Length).Select(TransitionInto).ToArray();

    /// <summary>
    /// The fault step of a failing input (Sec. 3.3, segment-level influence; the authors' <c>find_key</c> in
    /// <c>segment_repair.py</c>): the last step j ∈ 1..T whose per-step prediction still equals the true label, or 0
    /// (the virtual start) when no step ever predicts it. Since the last step predicts the final, wrong label, j &lt; T
    /// and the transition into step j + 1 is where the prediction leaves the truth for good (it may pass through other
    /// wrong labels before the final one). Null for an input the network gets right.
    /// </summary>
    public int? FaultStep()
    {
        if (!Failing) return null;
        for (int j = Length; j >= 1; j--)
        {
            if (StepLabels[j - 1] == Label) return j;
        }
        return 0;
    }

    /// <summary>
    /// The temporal features of Sec. 3.2 as the authors' <c>get_trace_input</c> builds them: per step the abstract state,
    /// the per-step label and the confidence vector P(· | state), row-major T × (2 + C).
    /// </summary>
    public float[] TemporalFeatures(StateAbstraction abstraction)
    {
        int width = 2 + abstraction.ClassCount;
        var features = new float[Length * width];
        for (int t = 0; t < Length; t++)
        {
            features[t * width] = States[t];
            features[t * width + 1] = StepLabels[t];
            double[] confidence = abstraction.Confidence(States[t]);
            for (int c = 0; c < confidence.Length; c++) features[t * width + 2 + c] = (float)confidence[c];
        }
        return features;
    }
}

/// <summary>
/// The abstract traces of a whole dataset, stored flat like <see cref="RecurrentProfile"/>: sample i owns entries
/// <c>Offsets[i] .. Offsets[i] + Lengths[i]</c> of <see cref="States"/>, <see cref="StepLabels"/> and <see cref="Symbols"/>.
/// </summary>
public sealed class TraceSet
{
    /// <summary>A trace set from flat arrays (as built by <see cref="From"/> or read from a file).</summary>
    public TraceSet(int[] lengths, int[] states, int[] stepLabels, int[] symbols, long[] predictions, long[] labels)
    {
        if (predictions.Length != lengths.Length || labels.Length != lengths.Length)
            throw new ArgumentException($"{lengths.Length} traces but {predictions.Length} predictions and {labels.Length} labels");
        long total = lengths.Sum(l => (long)l);
        if (lengths.Any(l => l < 0) || total != states.Length || stepLabels.Length != states.Length || symbols.Length != states.Length)
            throw new ArgumentException($"trace lengths add up to {total} steps but {states.Length} states, {stepLabels.Length} labels, {symbols.Length} symbols are given");
        if (states.Any(s => s < 1)) throw new ArgumentException("abstract states of real steps are 1..K");
        Lengths = lengths;
        Offsets = new int[lengths.Length];
        for (int i = 1; i < lengths.Length; i++) Offsets[i] = Offsets[i - 1] + lengths[i - 1];
        States = states;
        StepLabels = stepLabels;
        Symbols = symbols;
        Predictions = predictions;
        Labels = labels;
    }

    /// <summary>Where each trace starts in the flat arrays.</summary>
    public int[] Offsets { get; }

    /// <summary>Each trace's number of real steps.</summary>
    public int[] Lengths { get; }

    /// <summary>Abstract states of all steps (1..K).</summary>
    public int[] States { get; }

    /// <summary>Per-step predictions of all steps.</summary>
    public int[] StepLabels { get; }

    /// <summary>Symbols read at all steps.</summary>
    public int[] Symbols { get; }

    /// <summary>The network's prediction for each input.</summary>
    public long[] Predictions { get; }

    /// <summary>Each input's true label.</summary>
    public long[] Labels { get; }

    /// <summary>Number of traces.</summary>
    public int Count => Lengths.Length;

    /// <summary>The longest trace's length.</summary>
    public int MaxLength => Lengths.Length == 0 ? 0 : Lengths.Max();

    /// <summary>Trace <paramref name="index"/>.</summary>
    public AbstractTrace this[int index]
    {
        get
        {
            if (index < 0 || index >= Count) throw new ReparoInputException($"trace index {index} is outside 0..{Count - 1}");
            Range r = Offsets[index]..(Offsets[index] + Lengths[index]);
            return new AbstractTrace(States[r], StepLabels[r], Symbols[r], Predictions[index], Labels[index]);
        }
    }

    /// <summary>Abstracts a profile (Sec. 3.1: every hidden state mapped to its abstract state) into traces.</summary>
    public static TraceSet From(RecurrentProfile profile, StateAbstraction abstraction) =>
        new(profile.Lengths, abstraction.Assign(profile.States), profile.StepLabels, profile.Symbols, profile.Predictions, profile.Labels);
}
