using static TorchSharp.torch;

namespace Reparo.Influence;

/// <summary>Which columns of the temporal features a fidelity classifier reads.</summary>
public enum FeatureVariant
{
    /// <summary>Abstract state ids only.</summary>
    States,

    /// <summary>Per-step labels only.</summary>
    Labels,

    /// <summary>Confidence vectors only.</summary>
    Confidences,

    /// <summary>State, label and confidence vector.</summary>
    All,
}

/// <summary>How the fidelity classifiers are trained (the authors' <c>train_features.py</c>: full-batch Adam, 500 steps, rate 0.02).</summary>
/// <param name="Steps">Full-batch Adam steps.</param>
/// <param name="LearningRate">Adam's rate.</param>
/// <param name="Variants">Feature variants to try.</param>
public sealed record FidelityOptions(int Steps = 500, double LearningRate = 0.02, IReadOnlyList<FeatureVariant>? Variants = null);

/// <summary>One fidelity classifier's accuracy.</summary>
/// <param name="Variant">The features it read.</param>
/// <param name="TrainAccuracy">Accuracy on the training samples it was fitted to.</param>
/// <param name="TestAccuracy">Accuracy on the test traces (against the true labels).</param>
/// <param name="Agreement">Share of test inputs where it predicts what the network predicts.</param>
public sealed record FidelityRow(FeatureVariant Variant, double TrainAccuracy, double TestAccuracy, double Agreement);

/// <summary>The fidelity check's outcome.</summary>
/// <param name="NetworkAccuracy">The network's own accuracy on the test traces.</param>
/// <param name="TrainSamples">Training samples the classifiers were fitted to (those the network gets right).</param>
/// <param name="Rows">One row per feature variant.</param>
public sealed record FidelityReport(double NetworkAccuracy, int TrainSamples, IReadOnlyList<FidelityRow> Rows);

/// <summary>
/// The fidelity check of Xie et al., ICML'21, Sec. 5.1 (Table 1): if the temporal features capture what the network
/// does, a linear softmax classifier on them should match the network's accuracy. As the authors' code does, the
/// features are zero-padded at the end to a common length, normalised like the sample-level distance, flattened, and
/// the classifier is fitted to the training samples the network classifies correctly, with their labels. The weights
/// start at zero and every step uses the full batch, so the result has no random element.
/// </summary>
public static class FidelityCheck
{
    /// <summary>Fits one classifier per variant on <paramref name="model"/>'s training traces and scores it on <paramref name="test"/>.</summary>
    public static FidelityReport Run(InfluenceModel model, TraceSet test, FidelityOptions? options = null)
    {
        options ??= new FidelityOptions();
        if (options.Steps < 1) throw new ReparoInputException($"fidelity training needs at least one step, got {options.Steps}");
        if (!(options.LearningRate > 0)) throw new ReparoInputException($"the learning rate must be positive, got {options.LearningRate}");
        if (test.Count == 0) throw new ReparoInputException("the fidelity check needs test traces");
        IReadOnlyList<FeatureVariant> variants = options.Variants ?? [FeatureVariant.States, FeatureVariant.Labels, FeatureVariant.Confidences, FeatureVariant.All];
        TraceSet train = model.Training;
        int[] correct = Enumerable.Range(0, train.Count).Where(i => train.Predictions[i] == train.Labels[i]).ToArray();
        if (correct.Length == 0) throw new ReparoInputException("the network gets no training sample right; there is nothing to fit the fidelity classifiers to");
        int length = Math.Max(1, Math.Max(train.MaxLength, test.MaxLength));
        double networkAccuracy = Enumerable.Range(0, test.Count).Count(i => test.Predictions[i] == test.Labels[i]) / (double)test.Count;

        using var scope = NewDisposeScope();
        Tensor trainFeatures = Features(train, correct, model.Abstraction, length);
        Tensor testFeatures = Features(test, Enumerable.Range(0, test.Count).ToArray(), model.Abstraction, length);
        Tensor trainLabels = tensor(correct.Select(i => train.Labels[i]).ToArray());
        Tensor testLabels = tensor(test.Labels);
        Tensor networkPredictions = tensor(test.Predictions);
        var rows = new List<FidelityRow>();
        foreach (FeatureVariant variant in variants)
        {
            using var inner = NewDisposeScope();
            (long from, long width) = Columns(variant, model.Abstraction.ClassCount);
            Tensor x = trainFeatures.narrow(2, from, width).flatten(1);
            Tensor xTest = testFeatures.narrow(2, from, width).flatten(1);
            (Tensor weight, Tensor bias) = Fit(x, trainLabels, model.Abstraction.ClassCount, options);
            using var noGrad = no_grad();
            Tensor trainPredicted = addmm(bias, x, weight, 1, 1).argmax(1);
            Tensor testPredicted = addmm(bias, xTest, weight, 1, 1).argmax(1);
            rows.Add(new FidelityRow(variant,
                trainPredicted.eq(trainLabels).to(ScalarType.Float64).mean().item<double>(),
                testPredicted.eq(testLabels).to(ScalarType.Float64).mean().item<double>(),
                testPredicted.eq(networkPredictions).to(ScalarType.Float64).mean().item<double>()));
        }
        return new FidelityReport(networkAccuracy, correct.Length, rows);
    }

    /// <summary>Normalised temporal features (N × T × (2 + C)): state (s + 1)/(K + 2), label (l + 1)/(C + 1), confidences; padding is a zero step.</summary>
    private static Tensor Features(TraceSet traces, int[] samples, StateAbstraction abstraction, int length)
    {
        int classes = abstraction.ClassCount, width = 2 + classes, k = abstraction.K;
        double[][] confidence = [.. Enumerable.Range(1, k).Select(abstraction.Confidence)];
        var values = new float[(long)samples.Length * length * width];
        for (int n = 0; n < samples.Length; n++)
        {
            int i = samples[n], offset = traces.Offsets[i];
            for (int t = 0; t < length; t++)
            {
                long at = ((long)n * length + t) * width;
                int state = t < traces.Lengths[i] ? traces.States[offset + t] : 0;
                int label = t < traces.Lengths[i] ? traces.StepLabels[offset + t] : 0;
                values[at] = (float)((state + 1.0) / (k + 2));
                values[at + 1] = (float)((label + 1.0) / (classes + 1));
                if (state == 0) continue;
                for (int c = 0; c < classes; c++) values[at + 2 + c] = (float)confidence[state - 1][c];
            }
        }
        return tensor(values).reshape(samples.Length, length, width);
    }

    /// <summary>The feature columns a variant reads: first column and count.</summary>
    private static (long From, long Width) Columns(FeatureVariant variant, int classes) => variant switch
    {
        FeatureVariant.States => (0, 1),
        FeatureVariant.Labels => (1, 1),
        FeatureVariant.Confidences => (2, classes),
        FeatureVariant.All => (0, 2 + classes),
        _ => throw new ArgumentOutOfRangeException(nameof(variant)),
    };

    /// <summary>Softmax regression by full-batch Adam from zero weights.</summary>
    private static (Tensor Weight, Tensor Bias) Fit(Tensor x, Tensor labels, int classes, FidelityOptions options)
    {
        var weight = new TorchSharp.Modules.Parameter(zeros([x.shape[1], classes]));
        var bias = new TorchSharp.Modules.Parameter(zeros([classes]));
        using var optimizer = optim.Adam([weight, bias], options.LearningRate);
        for (int step = 0; step < options.Steps; step++)
        {
            using var inner = NewDisposeScope();
            optimizer.zero_grad();
            Tensor loss = nn.functional.cross_entropy(addmm(bias, x, weight, 1, 1), labels);
            loss.backward();
            optimizer.step();
        }
        return (weight.detach(), bias.detach());
    }
}
