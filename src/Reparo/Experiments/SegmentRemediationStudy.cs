using System.Diagnostics;
using System.Globalization;
using System.Text;
using Reparo.Data;
using Reparo.Influence;
using Reparo.Models;
using Reparo.Remediation;
using Reparo.Reporting;
using Reparo.Training;
using static Reparo.Reporting.ReportText;
using static TorchSharp.torch;

namespace Reparo.Experiments;

/// <summary>Settings of <see cref="SegmentRemediationStudy"/>.</summary>
public sealed record SegmentRemediationOptions
{
    /// <summary>The recurrent network over token ids, as a <see cref="ModelZoo"/> spec.</summary>
    public string Architecture { get; init; } = "gru:32";

    /// <summary>
    /// How the original model and every retrained model are trained (the seed is replaced per run). Default 2 epochs of
    /// Adam at 3e-3, batch 64. Measured on the shared 2-core machine (heavily loaded): one epoch over all 11,188 WordNet
    /// animal/plant glosses took about 200 s for <c>gru:32</c> (460 s for <c>gru:64</c>), so the default run uses the CLI's
    /// 1,000 training rows and one seed: 5 m × (1 + 10 random draws) + 2 trainings of about 15 s each, about 15 minutes.
    /// </summary>
    public TrainingOptions Training { get; init; } = new() { Epochs = 2, BatchSize = 64, LearningRate = 3e-3, Patience = 0 };

    /// <summary>Repair only failures of this true class (the authors take one class); null for every failure.</summary>
    public int? TargetClass { get; init; }

    /// <summary>How many most similar training samples get the faulty token, per failure (the authors' 5, 15, 25, 35, 45).</summary>
    public IReadOnlyList<int> M { get; init; } = [5, 15, 25, 35, 45];

    /// <summary>Random draws of the baseline per m (the authors use 10).</summary>
    public int RandomDraws { get; init; } = 10;

    /// <summary>Retrained models per modified training set (seeds Seed, Seed + 1, …); 1 by default to fit the time budget (see <see cref="Training"/>).</summary>
    public int Seeds { get; init; } = 1;

    /// <summary>Seed of the original model and of the random draws.</summary>
    public int Seed { get; init; }

    /// <summary>How the influence model of the original model is built (the K sweep stops at the first stable K by default).</summary>
    public InfluenceOptions Influence { get; init; } = new() { Abstraction = new AbstractionOptions { StopAtFirstStable = true } };

    /// <summary>Throws a <see cref="ReparoInputException"/> if a value is out of range.</summary>
    public void Validate()
    {
        if (M.Count == 0 || M.Any(m => m < 1)) throw new ReparoInputException($"--m needs positive sample counts, got '{string.Join(",", M)}'");
        if (RandomDraws < 1) throw new ReparoInputException($"at least one random draw is needed, got {RandomDraws}");
        if (Seeds < 1) throw new ReparoInputException($"at least one seed is needed, got {Seeds}");
        if (TargetClass is < 0) throw new ReparoInputException($"the target class must be a class index, got {TargetClass}");
        Training.Validate();
    }
}

/// <summary>Where the segment found in a training trace ends and how long it is (the authors' <c>cal_most_similar</c>).</summary>
/// <param name="Length">Number of the test's transitions, ending at its fault step, that occur contiguously in the training trace (0: none).</param>
/// <param name="AfterStep">The 0-based real step of the training sequence after which the token goes (<see cref="TokenInsertion.AfterStep"/>).</param>
public readonly record struct SegmentMatch(int Length, int AfterStep);

/// <summary>One repaired failure: where it goes wrong and which training samples can take its faulty token.</summary>
/// <param name="TestRow">Row in the test split.</param>
/// <param name="Label">True label.</param>
/// <param name="Prediction">The original model's prediction.</param>
/// <param name="FaultStep">Last step still predicting the truth (1-based).</param>
/// <param name="Token">The faulty token id (read at step FaultStep + 1).</param>
/// <param name="Word">The faulty token.</param>
/// <param name="Candidates">Training samples of the true label reaching the pre-flip (state, label).</param>
/// <param name="LongestMatch">Longest matched segment over the candidates.</param>
public sealed record SegmentTarget(int TestRow, long Label, long Prediction, int FaultStep, long Token, string Word, int Candidates, int LongestMatch);

/// <summary>One m of Table 4.</summary>
/// <param name="M">Training samples modified per failure.</param>
/// <param name="RowsModified">Distinct training rows changed by the guided repair.</param>
/// <param name="GuidedFixed">Share of the target failures the retrained models get right, influence-guided.</param>
/// <param name="GuidedAccuracy">Test accuracy, influence-guided.</param>
/// <param name="RandomFixed">Share of the target failures fixed, random samples and positions (over draws × seeds).</param>
/// <param name="RandomAccuracy">Test accuracy, random.</param>
/// <param name="MatchedRandomFixed">The authors' random baseline (segment_repair.py): the same random samples of each draw, the token at each one's matched position.</param>
/// <param name="MatchedRandomAccuracy">Test accuracy, the authors' random baseline.</param>
public sealed record SegmentRow(int M, int RowsModified, MeanStd GuidedFixed, MeanStd GuidedAccuracy, MeanStd RandomFixed, MeanStd RandomAccuracy,
    MeanStd MatchedRandomFixed, MeanStd MatchedRandomAccuracy);

/// <summary>What <see cref="SegmentRemediationStudy.Run"/> measured.</summary>
/// <param name="Data">The data's name.</param>
/// <param name="ClassNames">The classes.</param>
/// <param name="Architecture">The network.</param>
/// <param name="TrainRows">Training rows.</param>
/// <param name="TestRows">Test rows.</param>
/// <param name="OriginalAccuracy">The original model's test accuracy.</param>
/// <param name="Failures">Mispredicted test inputs (of the target class, if one is set).</param>
/// <param name="Targets">The failures repaired: those with a fault step and candidate training samples.</param>
/// <param name="AbstractStates">K of the influence model.</param>
/// <param name="BaselineFixed">Share of the targets fixed by retraining on the unmodified data (same seeds).</param>
/// <param name="BaselineAccuracy">Test accuracy of those models.</param>
/// <param name="Rows">One row per m.</param>
/// <param name="Seeds">Retrained models per training set.</param>
/// <param name="RandomDraws">Random draws per m.</param>
/// <param name="Seconds">Wall time of the whole study.</param>
public sealed record SegmentRemediationReport(string Data, IReadOnlyList<string> ClassNames, string Architecture, int TrainRows, int TestRows,
    double OriginalAccuracy, int Failures, IReadOnlyList<SegmentTarget> Targets, int AbstractStates, MeanStd BaselineFixed, MeanStd BaselineAccuracy,
    IReadOnlyList<SegmentRow> Rows, int Seeds, int RandomDraws, double Seconds) : IRemediationReport
{
    /// <summary>Table 4 as a document: the failures fixed by guided against random insertion first, then each m, the setup and the targets.</summary>
    public ReportDocument ToDocument()
    {
        var inv = CultureInfo.InvariantCulture;
        List<string> summary =
        [
            $"{Architecture} on {Data}: test accuracy {Percent(OriginalAccuracy)} before, {Count(Failures, "failure")}, {Count(Targets.Count, "target")} with a fault step and candidate training samples. Retraining on the unmodified data fixes {Percent(BaselineFixed.Mean)} of them at {Percent(BaselineAccuracy.Mean)} test accuracy.",
        ];
        if (Rows.Count > 0)
        {
            SegmentRow best = Rows.MaxBy(r => r.GuidedFixed.Mean)!;
            summary.Add($"After: inserting the faulty token into m = {best.M} training samples per failure fixes {Percent(best.GuidedFixed.Mean)} guided by influence against {Percent(best.RandomFixed.Mean)} at random, at {Percent(best.GuidedAccuracy.Mean)} test accuracy.");
        }
        summary.Add($"Cost: {Count(Seeds, "seed")} per training set, {Count(RandomDraws, "random draw")} per m, {ReportText.Seconds(Seconds)} in all.");
        var sections = new List<ReportSection>
        {
            new("Before and after: failures fixed per m", [new ReportTable(["m", "rows modified", "fixed, guided", "fixed, random", "fixed, random at matched positions (authors')", "test acc., guided", "test acc., random", "test acc., authors' random"],
                [.. Rows.Select(r => (IReadOnlyList<string>)[r.M.ToString(inv), r.RowsModified.ToString(inv), $"{Percent(r.GuidedFixed.Mean)} ± {Percent(r.GuidedFixed.Std)}",
                    $"{Percent(r.RandomFixed.Mean)} ± {Percent(r.RandomFixed.Std)}", $"{Percent(r.MatchedRandomFixed.Mean)} ± {Percent(r.MatchedRandomFixed.Std)}",
                    $"{Percent(r.GuidedAccuracy.Mean)} ± {Percent(r.GuidedAccuracy.Std)}", $"{Percent(r.RandomAccuracy.Mean)} ± {Percent(r.RandomAccuracy.Std)}", $"{Percent(r.MatchedRandomAccuracy.Mean)} ± {Percent(r.MatchedRandomAccuracy.Std)}"])])]),
            new("Setup", [new ReportKeyValues(
            [
                new("data", $"{Data} ({string.Join(" vs ", ClassNames)})"),
                new("model", Architecture),
                new("training rows", Count(TrainRows)),
                new("test rows", Count(TestRows)),
                new("abstract states (K)", AbstractStates.ToString(inv)),
            ])]),
            new("The failures repaired", [new ReportTable(["test row", "label", "prediction", "fault step", "faulty token", "candidates", "longest match"],
                [.. Targets.Select(t => (IReadOnlyList<string>)[t.TestRow.ToString(inv), ClassName(t.Label), ClassName(t.Prediction), t.FaultStep.ToString(inv), t.Word,
                    t.Candidates.ToString(inv), t.LongestMatch.ToString(inv)])])]),
        };
        return new ReportDocument("Segment-level remediation (RNNRepair Table 4)", summary, sections);
    }

    private string ClassName(long c) => c >= 0 && c < ClassNames.Count ? ClassNames[(int)c] : c.ToString(CultureInfo.InvariantCulture);

    /// <summary>The results section: setup, then Table 4's rows (target failures fixed and test accuracy per m, guided vs random).</summary>
    public string ToMarkdown()
    {
        var text = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        text.AppendLine("## Segment-level remediation (RNNRepair Table 4)").AppendLine();
        text.AppendLine(inv, $"Data `{Data}` ({string.Join(" vs ", ClassNames)}), `{Architecture}`, {TrainRows} training and {TestRows} test rows; " +
            $"original test accuracy {OriginalAccuracy:P2}, K = {AbstractStates}. {Failures} failures, {Targets.Count} with a fault step and candidate training " +
            $"samples (the targets). The repaired inputs are the target failures themselves (the authors' acc1): \"fixed\" is the share of them the " +
            $"retrained models get right. Guided: the m candidates with the longest matched segment get the faulty token right after it; random: " +
            $"m random candidates, random positions ({RandomDraws} draws); the authors' random (segment_repair.py): the same draws' candidates, each at its matched position. {Seeds} seeds per training set; retraining on the unmodified data fixes " +
            $"{BaselineFixed.Mean:P1} ± {BaselineFixed.Std:P1} at {BaselineAccuracy.Mean:P2} test accuracy. {Seconds / 60:F1} min.").AppendLine();
        text.AppendLine("| m | rows modified | fixed, guided | fixed, random | fixed, authors' random | test acc., guided | test acc., random | test acc., authors' random |");
        text.AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (SegmentRow r in Rows)
        {
            text.AppendLine(inv, $"| {r.M} | {r.RowsModified} | {r.GuidedFixed.Mean:P1} ± {r.GuidedFixed.Std:P1} | {r.RandomFixed.Mean:P1} ± {r.RandomFixed.Std:P1} | {r.MatchedRandomFixed.Mean:P1} ± {r.MatchedRandomFixed.Std:P1} | " +
                $"{r.GuidedAccuracy.Mean:P2} ± {r.GuidedAccuracy.Std:P2} | {r.RandomAccuracy.Mean:P2} ± {r.RandomAccuracy.Std:P2} | {r.MatchedRandomAccuracy.Mean:P2} ± {r.MatchedRandomAccuracy.Std:P2} |");
        }
        return text.ToString();
    }
}

/// <summary>
/// RNNRepair's segment-level remediation experiment (Xie et al., ICML'21, Sec. 4.4 and Table 4; the authors'
/// apps/RQ4/segment_repair.py): for each failing text, the token at which the prediction leaves the truth is inserted
/// into the m training samples of its true label that reach the pre-flip abstract state and share the longest segment
/// ending at the fault step, right after that segment; models retrained on the modified data are compared with
/// insertion into random candidates at random positions.
/// </summary>
public static class SegmentRemediationStudy
{
    /// <summary>
    /// The authors' <c>cal_most_similar</c>: the longest suffix of <paramref name="test"/>'s transitions ending at
    /// <paramref name="faultStep"/> (transitions into steps faultStep − L + 1 … faultStep, symbols included) that occurs
    /// contiguously in <paramref name="train"/>'s transitions, first occurrence; the token goes right after the step at
    /// which that occurrence ends. With no match at all (L = 0), the token goes after the first step at which the training
    /// trace reaches the test's pre-flip (state, label) — the authors' <c>augment</c> rule — or before the first token if it never does.
    /// </summary>
    public static SegmentMatch MostSimilar(AbstractTrace test, int faultStep, AbstractTrace train)
    {
        if (faultStep < 1 || faultStep > test.Length) throw new ArgumentOutOfRangeException(nameof(faultStep), $"the fault step must be a real step 1..{test.Length}, got {faultStep}");
        Transition[] query = test.Transitions(), source = train.Transitions();
        int length = 0, end = 0;
        for (int l = 1; l <= faultStep; l++)
        {
            int found = Find(source, query.AsSpan(faultStep - l, l));
            if (found < 0) break;
            length = l;
            end = found + l;
        }
        if (length > 0) return new SegmentMatch(length, end - 1);
        int state = test.States[faultStep - 1], label = test.StepLabels[faultStep - 1];
        for (int t = 0; t < train.Length; t++)
            if (train.States[t] == state && train.StepLabels[t] == label) return new SegmentMatch(0, t);
        return new SegmentMatch(0, -1);
    }

    /// <summary>Sec. 3.3's faulty token of a failing input: its fault step j (≥ 1) and the symbol read at step j + 1 (0-based index j); null when the input is right or never predicts its truth.</summary>
    public static (int FaultStep, long Token)? FaultyToken(AbstractTrace trace) =>
        trace.FaultStep() is int j && j >= 1 && j < trace.Length ? (j, trace.Symbols[j]) : null;

    /// <summary>
    /// Table 4 end to end: train the original model, build its influence model, find each failure's faulty token and
    /// candidate training samples, then per m retrain on the guided and on randomly modified training sets.
    /// </summary>
    public static SegmentRemediationReport Run(DataSplits splits, SegmentRemediationOptions options, IProgress<string>? progress = null)
    {
        options.Validate();
        var clock = Stopwatch.StartNew();
        Dataset train = splits.Train, test = splits.Test;
        if (train.Kind != InputKind.Tokens) throw new ReparoInputException($"segment-level remediation needs token sequences; '{train.Name}' holds {train.Kind.ToString().ToLowerInvariant()}");
        if (options.TargetClass is int target && target >= train.ClassCount) throw new ReparoInputException($"class {target} is not among '{train.Name}''s classes 0–{train.ClassCount - 1}");

        progress?.Report($"training the original {options.Architecture} on {train.Count} rows");
        using Network network = ModelZoo.Create(options.Architecture, train, options.Seed);
        if (network.Spec.InputKind != InputKind.Tokens) throw new ReparoInputException($"segment-level remediation needs a recurrent model over tokens (lstm:H or gru:H), got '{options.Architecture}'");
        Trainer.Train(network, train, null, options.Training with { Seed = options.Seed });
        double originalAccuracy = Evaluator.Accuracy(network, test);

        progress?.Report("building the influence model");
        using InfluenceModel influence = InfluenceModel.Build(network, train, options.Influence, progress);
        TraceSet testTraces = influence.Abstract(test);
        long[] trainLabels = train.Labels();
        var targets = new List<SegmentTarget>();
        var ranked = new List<(int Row, SegmentMatch Match)[]>();
        int failures = 0;
        for (int i = 0; i < testTraces.Count; i++)
        {
            AbstractTrace trace = testTraces[i];
            if (!trace.Failing || options.TargetClass is int c && trace.Label != c) continue;
            failures++;
            if (FaultyToken(trace) is not (int step, long token)) continue;
            int[] pool = influence.Index.SamplesReaching(trace.StepLabels[step - 1], trace.States[step - 1]).Where(r => trainLabels[r] == trace.Label).ToArray();
            if (pool.Length == 0) continue;
            // Longest match first, ties by training row.
            (int Row, SegmentMatch Match)[] order = pool.Select(r => (Row: r, Match: MostSimilar(trace, step, influence.Training[r])))
                .OrderByDescending(p => p.Match.Length).ThenBy(p => p.Row).ToArray();
            ranked.Add(order);
            targets.Add(new SegmentTarget(i, trace.Label, trace.Prediction, step, token, train.Vocabulary!.Tokens[(int)token], pool.Length, order[0].Match.Length));
        }
        if (targets.Count == 0) throw new ReparoInputException($"no failure of '{test.Name}' has a fault step with candidate training samples: nothing to repair");
        Dataset faults = test.Subset(targets.Select(t => t.TestRow).ToArray());
        var retrain = new RetrainOptions(options.Architecture, options.Training, Enumerable.Range(0, options.Seeds).Select(s => options.Seed + s).ToArray());

        progress?.Report($"{targets.Count} targets; retraining on the unmodified data");
        RetrainComparisonResult baseline = RetrainComparison.Run(train, null, test, faults, retrain);
        var rows = new List<SegmentRow>();
        foreach (int m in options.M)
        {
            var guided = new List<TokenInsertion>();
            for (int t = 0; t < targets.Count; t++)
                guided.AddRange(ranked[t].Take(m).Select(p => new TokenInsertion(p.Row, p.Match.AfterStep, targets[t].Token)));
            progress?.Report($"m = {m}: retraining on {guided.Select(g => g.Row).Distinct().Count()} modified rows, guided");
            RetrainComparisonResult guidedResult = RetrainComparison.Run(Replace(train, guided), null, test, faults, retrain);
            var randomRuns = new List<RetrainRun>();
            var matchedRuns = new List<RetrainRun>();
            for (int d = 0; d < options.RandomDraws; d++)
            {
                progress?.Report($"m = {m}: random draw {d + 1}/{options.RandomDraws}");
                (IReadOnlyList<TokenInsertion> random, IReadOnlyList<TokenInsertion> matched) = RandomInsertions(train, ranked, targets, m, DrawSeed(options.Seed, m, d));
                randomRuns.AddRange(RetrainComparison.Run(Replace(train, random), null, test, faults, retrain).Runs);
                matchedRuns.AddRange(RetrainComparison.Run(Replace(train, matched), null, test, faults, retrain).Runs);
            }
            rows.Add(new SegmentRow(m, guided.Select(g => g.Row).Distinct().Count(), Share(guidedResult.Runs, faults.Count), guidedResult.TestAccuracy,
                Share(randomRuns, faults.Count), MeanStd.Of(randomRuns.Select(r => r.TestAccuracy).ToArray()),
                Share(matchedRuns, faults.Count), MeanStd.Of(matchedRuns.Select(r => r.TestAccuracy).ToArray())));
        }
        return new SegmentRemediationReport(train.Name, train.ClassNames, options.Architecture, train.Count, test.Count, originalAccuracy, failures, targets,
            influence.Report.K, Share(baseline.Runs, faults.Count), baseline.TestAccuracy, rows, options.Seeds, options.RandomDraws, clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// Table 4's modified training set: the insertions applied in order to the rows they name, which REPLACE the
    /// originals (the authors modify x_train in place; a row chosen twice gets both tokens); <paramref name="train"/> is not modified.
    /// </summary>
    public static Dataset Replace(Dataset train, IReadOnlyList<TokenInsertion> insertions)
    {
        int width = (int)train.X.shape[1];
        long[] ids = train.X.contiguous().data<long>().ToArray();
        foreach (TokenInsertion s in insertions)
        {
            if (s.Row < 0 || s.Row >= train.Count) throw new ReparoInputException($"row {s.Row} is not in '{train.Name}' (0–{train.Count - 1})");
            Span<long> row = ids.AsSpan(s.Row * width, width);
            // A row already lengthened may have a later step than recorded; the insertion stays inside its real steps.
            int after = Math.Min(s.AfterStep, Vocabulary.Length(row) - 1);
            SegmentInsertion.Insert(row, after, s.Token).CopyTo(row);
        }
        return new Dataset($"{train.Name}+segments({insertions.Count})", tensor(ids).reshape(train.Count, width), train.Y.clone(), train.ClassNames,
            InputKind.Tokens, train.Vocabulary, train.SourceIndices);
    }

    /// <summary>
    /// Table 4's random baselines for one draw: per target, m candidates drawn without replacement from its pool; ours
    /// puts the token at a uniformly random position of each, the authors' (segment_repair.py) at each one's matched position.
    /// </summary>
    private static (IReadOnlyList<TokenInsertion> Random, IReadOnlyList<TokenInsertion> Matched) RandomInsertions(Dataset train, List<(int Row, SegmentMatch Match)[]> ranked,
        List<SegmentTarget> targets, int m, int seed)
    {
        var rng = new Random(seed);
        var chosen = new List<TokenInsertion>();
        var matched = new List<TokenInsertion>();
        for (int t = 0; t < targets.Count; t++)
        {
            (int Row, SegmentMatch Match)[] pool = [.. ranked[t].OrderBy(p => p.Row)];
            rng.Shuffle(pool);
            chosen.AddRange(pool.Take(m).Select(p => new TokenInsertion(p.Row, -1, targets[t].Token)));
            matched.AddRange(pool.Take(m).Select(p => new TokenInsertion(p.Row, p.Match.AfterStep, targets[t].Token)));
        }
        return (SegmentInsertion.RandomPositions(train, chosen, rng.Next()), matched);
    }

    /// <summary>First position at which <paramref name="segment"/> occurs contiguously in <paramref name="source"/>, or −1.</summary>
    private static int Find(Transition[] source, ReadOnlySpan<Transition> segment)
    {
        for (int start = 0; start + segment.Length <= source.Length; start++)
            if (source.AsSpan(start, segment.Length).SequenceEqual(segment)) return start;
        return -1;
    }

    private static int DrawSeed(int seed, int m, int draw) => unchecked(seed * 1_000_003 + m * 1009 + draw);

    private static MeanStd Share(IReadOnlyList<RetrainRun> runs, int faults) => MeanStd.Of(runs.Select(r => r.FaultsFixed / (double)faults).ToArray());
}
