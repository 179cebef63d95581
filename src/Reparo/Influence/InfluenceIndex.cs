namespace Reparo.Influence;

/// <summary>
/// The sparse transition index of Xie et al., ICML'21, Sec. 3.3 (the authors' <c>update_transitions</c>): for every
/// transition (previous state, previous label, symbol, label, state) the sorted ids of the training samples whose
/// traces contain it. Its size is |I(τ)|, the support of a transition; the samples are the transition-level influence
/// set. With <see cref="IgnoresSymbols"/> the symbol is dropped from the key (the authors' <c>tran_to_training_without</c>).
/// </summary>
public sealed class InfluenceIndex
{
    private readonly Dictionary<Transition, int[]> samples;

    private InfluenceIndex(Dictionary<Transition, int[]> samples, bool ignoresSymbols)
    {
        this.samples = samples;
        IgnoresSymbols = ignoresSymbols;
    }

    /// <summary>Whether keys leave out the input symbol (every symbol counts as 0).</summary>
    public bool IgnoresSymbols { get; }

    /// <summary>Number of distinct transitions.</summary>
    public int TransitionCount => samples.Count;

    /// <summary>Every transition with its samples, in no particular order.</summary>
    public IEnumerable<KeyValuePair<Transition, int[]>> Entries => samples;

    /// <summary>Indexes the transitions of every trace of <paramref name="traces"/> (ids are trace positions).</summary>
    public static InfluenceIndex Build(TraceSet traces, bool ignoreSymbols = false)
    {
        var lists = new Dictionary<Transition, List<int>>();
        for (int i = 0; i < traces.Count; i++)
        {
            int offset = traces.Offsets[i];
            int previousState = 0, previousLabel = 0;
            for (int t = 0; t < traces.Lengths[i]; t++)
            {
                int state = traces.States[offset + t], label = traces.StepLabels[offset + t];
                var key = new Transition(previousState, previousLabel, ignoreSymbols ? 0 : traces.Symbols[offset + t], label, state);
                if (!lists.TryGetValue(key, out List<int>? ids)) lists[key] = ids = [];
                if (ids.Count == 0 || ids[^1] != i) ids.Add(i);
                previousState = state;
                previousLabel = label;
            }
        }
        return new InfluenceIndex(lists.ToDictionary(kv => kv.Key, kv => kv.Value.ToArray()), ignoreSymbols);
    }

    /// <summary>An index from stored entries (as read from an influence model file); ids must be sorted and distinct.</summary>
    public static InfluenceIndex FromEntries(IEnumerable<KeyValuePair<Transition, int[]>> entries, bool ignoresSymbols)
    {
        var map = new Dictionary<Transition, int[]>();
        foreach ((Transition key, int[] ids) in entries)
        {
            for (int i = 1; i < ids.Length; i++)
            {
                if (ids[i] <= ids[i - 1]) throw new ArgumentException($"sample ids of {key} are not sorted and distinct");
            }
            if (!map.TryAdd(key, ids)) throw new ArgumentException($"transition {key} appears twice");
        }
        return new InfluenceIndex(map, ignoresSymbols);
    }

    /// <summary>The training samples whose traces contain <paramref name="transition"/> (sorted; empty if none).</summary>
    public IReadOnlyList<int> Samples(Transition transition) =>
        samples.TryGetValue(Normalise(transition), out int[]? ids) ? ids : [];

    /// <summary>|I(τ)|: how many training samples contain <paramref name="transition"/>.</summary>
    public int Support(Transition transition) => samples.TryGetValue(Normalise(transition), out int[]? ids) ? ids.Length : 0;

    /// <summary>
    /// The training samples that contain every transition of <paramref name="segment"/> (the samples sharing a whole
    /// segment of an input's trace; an empty segment gives no samples).
    /// </summary>
    public IReadOnlyList<int> SamplesContainingAll(IEnumerable<Transition> segment)
    {
        IEnumerable<int>? common = null;
        foreach (Transition t in segment)
        {
            IReadOnlyList<int> ids = Samples(t);
            common = common is null ? ids : common.Intersect(ids);
        }
        return common?.Order().ToArray() ?? [];
    }

    /// <summary>
    /// The training samples with a step that ends in <paramref name="state"/> with per-step label <paramref name="label"/>
    /// (the authors' <c>get_reachable_train</c>: samples that reach the pre-flip state); none for the virtual start state.
    /// </summary>
    public IReadOnlyList<int> SamplesReaching(int label, int state)
    {
        if (state == 0) return [];
        var reached = new SortedSet<int>();
        foreach ((Transition key, int[] ids) in samples)
        {
            if (key.State == state && key.Label == label) reached.UnionWith(ids);
        }
        return reached.ToArray();
    }

    /// <summary>The key a transition is stored under (symbol 0 when symbols are ignored).</summary>
    private Transition Normalise(Transition t) => IgnoresSymbols ? t with { Symbol = 0 } : t;
}
