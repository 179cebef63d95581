using Reparo.Data;
using Reparo.Influence;
using Reparo.Models;
using static Reparo.Reporting.ReportText;
using static TorchSharp.torch;

namespace Reparo.Reporting;

/// <summary>One step of an input's abstract trace (RNNRepair's Figure 1): the abstract state, the per-step prediction and its confidence.</summary>
/// <param name="Step">The step, 1..T.</param>
/// <param name="Token">The token read, for text; null for image rows and features.</param>
/// <param name="State">The abstract state after it (1..K).</param>
/// <param name="Label">The per-step prediction after it.</param>
/// <param name="Confidence">The softmax probability of that prediction at this step.</param>
public sealed record TraceStep(int Step, string? Token, int State, long Label, double Confidence);

/// <summary>
/// Why a recurrent network predicts what it does for one input, as a report: its trace step by step and the training
/// samples of the most similar traces (sample-level influence, Xie et al., ICML'21), with their distances.
/// </summary>
public sealed class InfluenceExplanation : IReportDocument
{
    private readonly IReadOnlyList<string> classNames;
    private readonly ReportThumbnail input;
    private readonly IReadOnlyList<(InfluenceHit Hit, string Source, ReportThumbnail Picture)> top;
    private readonly string what;
    private readonly int buildStates;

    private InfluenceExplanation(IReadOnlyList<string> classNames, AbstractTrace trace, IReadOnlyList<TraceStep> steps, ReportThumbnail input,
        IReadOnlyList<(InfluenceHit, string, ReportThumbnail)> top, string what, int buildStates)
    {
        this.classNames = classNames;
        Trace = trace;
        Steps = steps;
        this.input = input;
        this.top = top;
        this.what = what;
        this.buildStates = buildStates;
    }

    /// <summary>The input's abstract trace.</summary>
    public AbstractTrace Trace { get; }

    /// <summary>The trace step by step, with confidences.</summary>
    public IReadOnlyList<TraceStep> Steps { get; }

    /// <summary>Explains input <paramref name="index"/> of <paramref name="data"/> by <paramref name="answer"/>, the model's query for it; <paramref name="train"/> is the data the model was built on.</summary>
    public static InfluenceExplanation Create(InfluenceModel model, Dataset data, int index, SampleQuery answer, Dataset train)
    {
        using var scope = NewDisposeScope();
        Network network = model.Network;
        Tensor x = data.X.narrow(0, index, 1);
        Tensor probabilities = network.InEvalMode(() =>
        {
            using var noGrad = no_grad();
            return network.Steps(x).StepLogits.softmax(-1)[0];
        });
        AbstractTrace trace = answer.Trace;
        // The trace's T real steps are the last T of the network's (text is left-padded).
        int offset = (int)probabilities.shape[0] - trace.Length;
        double[] confidence = [.. Enumerable.Range(0, trace.Length).Select(s => probabilities[offset + s, trace.StepLabels[s]].item<float>()).Select(v => (double)v)];
        string? Token(int symbol) => network.Vocabulary?.TokenOf(symbol);
        TraceStep[] steps = [.. Enumerable.Range(0, trace.Length).Select(s => new TraceStep(s + 1, Token(trace.Symbols[s]), trace.States[s], trace.StepLabels[s], confidence[s]))];
        IReadOnlyList<string> names = network.Spec.ClassNames;
        var hits = answer.Top.Select((h, r) => (h, train.SourceName(h.TrainIndex),
            InputPicture.Thumbnail(train.X[h.TrainIndex], network, $"#{r + 1}: training sample {train.SourceName(h.TrainIndex)} · {names[(int)h.Label]} · distance {Number(h.Distance)}"))).ToArray();
        string what = $"{data.Name} sample {data.SourceName(index)}";
        ReportThumbnail picture = InputPicture.Thumbnail(x[0], network, $"{what} · true: {names[(int)trace.Label]} · predicted: {names[(int)trace.Prediction]}");
        return new InfluenceExplanation(names, trace, steps, picture, hits, what, model.Report.K);
    }

    /// <inheritdoc />
    public ReportDocument ToDocument()
    {
        string Name(long c) => classNames[(int)c];
        int? fault = Trace.FaultStep();
        var summary = new List<string>
        {
            Trace.Failing
                ? $"What was wrong: the network predicts {Name(Trace.Prediction)} for {what}, whose label is {Name(Trace.Label)}; "
                    + (fault is int f and > 0 ? $"its per-step prediction is {Name(Trace.Label)} until step {f} of {Trace.Length}." : "no step of it ever predicts the true label.")
                : $"The network predicts {what} correctly ({Name(Trace.Label)}).",
            $"Its trace runs through {Count(Steps.Select(s => s.State).Distinct().Count(), "abstract state")} of the model's K = {buildStates}; "
                + (top.Count == 0 ? "no training sample was listed." : $"the training samples with the most similar traces are labelled {string.Join(", ", top.Take(5).Select(t => Name(t.Hit.Label)))} (closest first)."),
            "Not a proof: influence ranks training samples by the distance of their abstract traces' temporal features to this input's.",
        };
        var sections = new List<ReportSection>
        {
            new("Input", [new ReportGallery([input])]),
            new("Trace", [
                new ReportParagraph("Every step: the abstract state the hidden state falls in, the prediction the network would make if the input ended there, and its confidence."),
                new ReportTable(Steps.Any(s => s.Token is not null) ? ["step", "token", "state", "label", "confidence"] : ["step", "state", "label", "confidence"],
                    [.. Steps.Select(s => (IReadOnlyList<string>)[s.Step.ToString(System.Globalization.CultureInfo.InvariantCulture), .. s.Token is null ? Array.Empty<string>() : [s.Token],
                        s.State.ToString(System.Globalization.CultureInfo.InvariantCulture), Name(s.Label) + (s.Step == fault + 1 ? "  ← flips" : ""), Percent(s.Confidence)])]),
            ]),
            new("Influential training samples", [
                new ReportTable(["rank", "training sample", "label", "distance"],
                    [.. top.Select((t, r) => (IReadOnlyList<string>)[(r + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), t.Source, Name(t.Hit.Label), Number(t.Hit.Distance)])]),
                new ReportGallery([.. top.Take(20).Select(t => t.Picture)]),
            ]),
        };
        return new ReportDocument($"Influence: {what}", summary, sections);
    }
}
