using Reparo.Data;
using Reparo.Models;
using Reparo.Reporting;
using Reparo.Training;
using Reparo.UseCases;

namespace Reparo.Tests.UseCases;

public class TrainEvaluateUseCaseTests
{
    /// <summary>
    /// The trained model is saved with its provenance, and evaluating the saved file on the test split gives back the
    /// test accuracy the training report states; the evaluation's numbers agree with its own confusion matrix.
    /// </summary>
    [Fact]
    public void TrainedModelIsSavedAndItsEvaluationAgreesWithTheTrainingReport()
    {
        using var dir = TestSupport.TempFolder();
        DataSplits splits = DataCatalog.Load("digits");
        var options = new TrainingOptions { Epochs = 3, LearningRate = 5e-3, Patience = 0, Seed = 4 };
        TrainedModelReport trained = TrainUseCase.Run(new TrainRequest("digits", 0, splits, "mlp:16x1", options, 2, dir.File("m.reparo")));
        Assert.Equal(3, trained.Epochs.Count);
        Assert.Equal("mlp:16x1", trained.Arch);
        Assert.Null(trained.Poison);

        Network saved = ModelFile.Load(dir.File("m.reparo"));
        Assert.Equal("digits", saved.Provenance.Data);
        Assert.Equal(4, saved.Provenance.Seed);
        Assert.Single(saved.Provenance.History);

        ModelEvaluationReport eval = EvaluateUseCase.Run(new EvaluateRequest(saved, "m.reparo", "digits", splits, EvaluationSplit.Test, null, 3, 0));
        Assert.Equal(trained.TestAccuracy, eval.Accuracy, 12);
        Assert.Equal(trained.TestN, eval.N);
        Assert.Equal(eval.N, eval.ConfusionMatrix.Sum(row => row.Sum()));
        Assert.Equal(eval.Accuracy, Enumerable.Range(0, eval.ClassNames.Count).Sum(c => eval.ConfusionMatrix[c][c]) / (double)eval.N, 12);

        Assert.Contains($"test accuracy {ReportText.Percent(trained.TestAccuracy)}", trained.ToDocument().Summary[0]);
        ReportDocument evaluation = eval.ToDocument();
        Assert.StartsWith($"m.reparo: accuracy {ReportText.Percent(eval.Accuracy)} on {eval.N} samples of the test split of digits", evaluation.Summary[0]);
        Assert.IsType<ReportMatrix>(Assert.Single(evaluation.Sections, s => s.Heading == "Confusion matrix").Blocks[0]);
    }

    /// <summary>
    /// A model that has not learned (one epoch at a tiny learning rate) is trained and saved all the same, but the report
    /// warns that it is no better than the most common class and says how many steps ran; a model that has learned gets no
    /// warning.
    /// </summary>
    [Fact]
    public void AModelNoBetterThanTheCommonestClassIsWarnedAbout()
    {
        using var dir = TestSupport.TempFolder();
        DataSplits splits = DataCatalog.Load("digits");
        TrainedModelReport Train(TrainingOptions options) => TrainUseCase.Run(new TrainRequest("digits", 0, splits, "mlp:16x1", options, 2, dir.File("m.reparo")));

        TrainedModelReport stuck = Train(new TrainingOptions { Epochs = 1, LearningRate = 1e-7, Patience = 0, Seed = 4 });
        TrainedModelReport learned = Train(new TrainingOptions { Epochs = 3, LearningRate = 5e-3, Patience = 0, Seed = 4 });

        double commonest = splits.Test.Labels().GroupBy(l => l).Max(g => g.Count()) / (double)splits.Test.Count;
        Assert.True(stuck.TestAccuracy <= commonest + 1.0 / splits.Test.Count, $"{stuck.TestAccuracy} against {commonest}");
        int steps = (splits.Train.Count + 127) / 128;
        string warning = Assert.Single(stuck.Warnings);
        Assert.StartsWith("the model is no better than always predicting the most common class", warning, StringComparison.Ordinal);
        Assert.Contains($"1 epochs of {steps} steps each ran ({splits.Train.Count} training samples, batch size 128, learning rate 1E-07)", warning);
        Assert.Contains($"Warning: {warning}.", stuck.ToDocument().Summary);
        Assert.True(learned.TestAccuracy > 0.5, $"{learned.TestAccuracy}");
        Assert.Empty(learned.Warnings);
        Assert.DoesNotContain("far from unit scale", warning);
    }

    /// <summary>
    /// When a model on a table whose features lie far from unit scale (one column of ±5000) has not learned, the warning
    /// names the widest feature and <c>--normalize train</c>; standardised, the model learns.
    /// </summary>
    [Fact]
    public void FeaturesFarFromUnitScaleAreNamedAndStandardisingThemLetsTheModelLearn()
    {
        using var dir = TestSupport.TempFolder();
        // Two classes told apart by the sign of feature 0; feature 1 is noise of ±5000.
        var rng = new Random(3);
        var lines = new List<string>();
        for (int i = 0; i < 400; i++)
        {
            int label = i % 2;
            double signal = (label == 0 ? -1 : 1) * (0.5 + rng.NextDouble()), noise = 10000 * (rng.NextDouble() - 0.5);
            lines.Add(FormattableString.Invariant($"{signal},{noise},{label}"));
        }
        File.WriteAllLines(dir.File("t.csv"), lines);
        string spec = $"csv:{dir.File("t.csv")}";
        DataSplits splits = DataCatalog.Load(spec);
        TrainedModelReport raw = TrainUseCase.Run(new TrainRequest(spec, 0, splits, "mlp:16x2",
            new TrainingOptions { Epochs = 1, LearningRate = 1e-7, Patience = 0, Seed = 1 }, 2, dir.File("raw.reparo")));
        string warning = Assert.Single(raw.Warnings);
        Assert.Contains("the inputs are far from unit scale (feature 1: mean ", warning);
        Assert.Contains("standardise them with --normalize train", warning);

        InputPreprocessing standardise = InputPreprocessing.Parse("train", null, null, splits.Train)!;
        TrainedModelReport scaled = TrainUseCase.Run(new TrainRequest(spec, 0, splits, "mlp:16x2",
            new TrainingOptions { Epochs = 10, BatchSize = 16, Patience = 0, Seed = 1 }, 2, dir.File("scaled.reparo"), standardise));
        Assert.Empty(scaled.Warnings);
        Assert.True(scaled.TestAccuracy > 0.9, $"{scaled.TestAccuracy}");
        Assert.Equal(standardise.Mean, ModelFile.Load(dir.File("scaled.reparo")).Provenance.Preprocessing!.Mean);
    }

    [Fact]
    public void CorruptedEvaluationNamesTheCorruptionAndRejectsText()
    {
        DataSplits splits = DataCatalog.Load("digits");
        Network network = ModelZoo.Create("mlp:8x1", splits.Train, seed: 1);
        ModelEvaluationReport noisy = EvaluateUseCase.Run(new EvaluateRequest(network, "m", "digits", splits, EvaluationSplit.Validation, "gaussian-noise", 5, 0));
        Assert.Equal(("gaussian-noise", 5, "validation"), (noisy.Corruption, noisy.Severity, noisy.Split));
        Assert.Equal(splits.Validation.Count, noisy.N);
        Assert.Contains("with gaussian-noise at severity 5", noisy.ToDocument().Summary[0]);
        Assert.Throws<ReparoInputException>(() => EvaluateUseCase.Run(new EvaluateRequest(network, "m", "digits", splits, EvaluationSplit.Test, "no-such-corruption", 3, 0)));
    }
}
