namespace Reparo.Influence;

/// <summary>Which transitions of an input vote for the training samples that share them.</summary>
public enum TransitionScope
{
    /// <summary>Every transition of the input, each with weight 1/T (the authors' <c>dataclean_bin.py</c> ranking).</summary>
    All,

    /// <summary>Only the faulty transition of a failing input (out of its fault step, <see cref="AbstractTrace.FaultStep"/>).</summary>
    Faulty,
}

/// <summary>Segment-level view of one input's trace against the training traces.</summary>
/// <param name="Label">True label.</param>
/// <param name="Prediction">The network's prediction.</param>
/// <param name="Length">Number of real steps T.</param>
/// <param name="FaultStep">For a failing input, the last step still predicting the true label (0 = the virtual start); null when the input is classified correctly.</param>
/// <param name="PreFlipState">Abstract state at the fault step (0 at the virtual start, or when there is no fault).</param>
/// <param name="PreFlipLabel">Per-step label at the fault step (0 at the virtual start, or when there is no fault).</param>
/// <param name="FaultyTransition">The transition out of the fault step; null when there is none.</param>
/// <param name="FaultySupport">How many training samples contain the faulty transition.</param>
/// <param name="Supports">Support of the transition into every step 1..T (entry t − 1 for step t).</param>
/// <param name="SamplesReachingPreFlipState">Training samples with a step that ends in the pre-flip state with the pre-flip label.</param>
public sealed record SegmentAnalysis(long Label, long Prediction, int Length, int? FaultStep, int PreFlipState, int PreFlipLabel,
    Transition? FaultyTransition, int FaultySupport, int[] Supports, int SamplesReachingPreFlipState);

/// <summary>
/// Segment- and transition-level influence (Xie et al., ICML'21, Sec. 3.3 and Sec. 4.2): where a failing input's
/// prediction leaves the truth, how much training data supports each of its transitions, and which training samples
/// share the transitions of failures — the suspects when mislabelled data is searched for.
/// </summary>
public static class SegmentInfluence
{
    /// <summary>The fault step, pre-flip state, faulty transition and per-transition supports of <paramref name="trace"/> (Sec. 3.3, segment-level influence).</summary>
    public static SegmentAnalysis Analyse(AbstractTrace trace, InfluenceIndex index)
    {
        Transition[] transitions = trace.Transitions();
        int[] supports = transitions.Select(index.Support).ToArray();
        int? fault = trace.FaultStep();
        if (fault is not int f) return new SegmentAnalysis(trace.Label, trace.Prediction, trace.Length, null, 0, 0, null, 0, supports, 0);
        int state = f == 0 ? 0 : trace.States[f - 1];
        int label = f == 0 ? 0 : trace.StepLabels[f - 1];
        Transition? faulty = f < trace.Length ? transitions[f] : null;
        return new SegmentAnalysis(trace.Label, trace.Prediction, trace.Length, f, state, label, faulty,
            faulty is { } t ? index.Support(t) : 0, supports, index.SamplesReaching(label, state).Count);
    }

    /// <summary>
    /// A suspicion score for every training sample from the transitions of <paramref name="inputs"/> (Sec. 4.2: training
    /// samples that share the transitions of failures are the suspects). With <see cref="TransitionScope.All"/>, sample j
    /// scores Σ_q (1/T_q)·#{t ∈ 1..T_q : j contains τ_t(q)}, the share of each input's transitions (with repeats) that
    /// j's trace contains, summed over the inputs (the authors divide by the constant T − 1 = 27 instead and skip the last
    /// transition); with <see cref="TransitionScope.Faulty"/>, sample j scores the number of failing inputs whose faulty
    /// transition it contains (correctly classified inputs have none and add nothing).
    /// </summary>
    public static double[] TransitionScores(IEnumerable<AbstractTrace> inputs, InfluenceIndex index, int trainingCount, TransitionScope scope = TransitionScope.All)
    {
        var scores = new double[trainingCount];
        foreach (AbstractTrace q in inputs)
        {
            if (scope == TransitionScope.All)
            {
                if (q.Length == 0) continue;
                double weight = 1.0 / q.Length;
                foreach (Transition t in q.Transitions())
                {
                    foreach (int j in index.Samples(t)) scores[j] += weight;
                }
            }
            else if (q.FaultStep() is int f && f < q.Length)
            {
                foreach (int j in index.Samples(q.TransitionInto(f + 1))) scores[j] += 1;
            }
        }
        return scores;
    }
}
