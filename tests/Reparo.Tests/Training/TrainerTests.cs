using Reparo.Data;
using Reparo.Models;
using Reparo.Training;

namespace Reparo.Tests.Training;

public class TrainerTests
{
    private static DataSplits Digits() => DataCatalog.Load("digits");

    private static byte[] WeightBytes(Network network) =>
        network.state_dict().OrderBy(kv => kv.Key, StringComparer.Ordinal).SelectMany(kv => kv.Value.bytes.ToArray()).ToArray();

    [Fact]
    public void SameSeedGivesTheSameWeightBytes()
    {
        TestSupport.Init();
        DataSplits data = Digits();
        var options = new TrainingOptions { Epochs = 2, BatchSize = 64, Seed = 11 };
        byte[] Train(int seed, TrainingOptions o)
        {
            using Network n = ModelZoo.Create("cnn", data.Train, seed);
            Trainer.Train(n, data.Train, data.Validation, o);
            return WeightBytes(n);
        }
        byte[] first = Train(11, options);
        Assert.Equal(first, Train(11, options));
        Assert.NotEqual(first, Train(11, options with { Seed = 12 }));
        Assert.NotEqual(first, Train(12, options));
    }

    [Fact]
    public void TrainingLearnsAndEvaluationIsConsistent()
    {
        TestSupport.Init();
        DataSplits data = Digits();
        using Network network = ModelZoo.Create("mlp:64x2", data.Train, 0);
        double before = Evaluator.Accuracy(network, data.Test);
        TrainingReport report = Trainer.Train(network, data.Train, data.Validation, new TrainingOptions { Epochs = 30, BatchSize = 32, LearningRate = 3e-3, Patience = 0, Seed = 0 });
        EvaluationReport after = Evaluator.Evaluate(network, data.Test);
        Assert.True(before < 0.3, $"untrained accuracy {before}");
        Assert.True(after.Accuracy > 0.9, $"trained accuracy {after.Accuracy}");
        Assert.Equal(data.Test.Count, after.ConfusionMatrix.Sum(r => r.Sum()));
        Assert.Equal(after.Accuracy, Enumerable.Range(0, 10).Sum(c => after.ConfusionMatrix[c][c]) / (double)after.N, 12);
        Assert.Equal(after.N - after.Failures(data.Test).Length, (int)Math.Round(after.Accuracy * after.N));
        Assert.Equal(30, report.Epochs.Count);
        Assert.Equal(report.Epochs[^1].ValidationAccuracy!.Value, Evaluator.Accuracy(network, data.Validation), 12);
    }

    [Fact]
    public void EarlyStoppingStopsAndKeepsTheBestEpoch()
    {
        TestSupport.Init();
        DataSplits data = Digits();
        using Network network = ModelZoo.Create("mlp:32x2", data.Train, 0);
        // A rate this large makes validation accuracy stall quickly; patience 1 must then stop the run.
        TrainingReport report = Trainer.Train(network, data.Train, data.Validation,
            new TrainingOptions { Epochs = 30, LearningRate = 0.05, Schedule = LearningRateSchedule.Constant, Patience = 1, Seed = 0 });
        Assert.True(report.StoppedEarly);
        Assert.True(report.Epochs.Count < 30);
        Assert.Equal(report.BestValidationAccuracy!.Value, Evaluator.Accuracy(network, data.Validation), 12);
    }

    [Fact]
    public void BadOptionsAndMismatchedDataAreRejected()
    {
        TestSupport.Init();
        DataSplits data = Digits();
        using Network network = ModelZoo.Create("mlp:8x2", data.Train, 0);
        Assert.Contains("epochs must be at least 1", Assert.Throws<ReparoInputException>(() =>
            Trainer.Train(network, data.Train, null, new TrainingOptions { Epochs = 0 })).Message);
        Assert.Contains("learning rate must be positive", Assert.Throws<ReparoInputException>(() =>
            Trainer.Train(network, data.Train, null, new TrainingOptions { LearningRate = double.NaN })).Message);
        Dataset fashionShaped = TestSupport.RandomImages(4);
        Assert.Contains("the model expects image of shape [1,8,8]", Assert.Throws<ReparoInputException>(() => Evaluator.Evaluate(network, fashionShaped)).Message);
    }

    [Fact]
    public void EpochCallbackSeesEveryEpochsWeightsAndRate()
    {
        TestSupport.Init();
        DataSplits data = Digits();
        using Network network = ModelZoo.Create("mlp:8x2", data.Train, 0);
        var checkpoints = new List<TrainingCheckpoint>();
        TrainingReport report = Trainer.Train(network, data.Train, null, new TrainingOptions { Epochs = 3, BatchSize = 256, Seed = 1 },
            epochEnded: (n, epoch) => checkpoints.Add(TrainingCheckpoint.Capture(n, epoch)));
        Assert.Equal([1, 2, 3], checkpoints.Select(c => c.Epoch));
        Assert.Equal(report.Epochs.Select(e => e.LearningRate), checkpoints.Select(c => c.LearningRate));
        byte[] final = WeightBytes(network);
        using Network copy = ModelZoo.Create("mlp:8x2", data.Train, 5);
        checkpoints[0].LoadInto(copy);
        Assert.NotEqual(final, WeightBytes(copy));
        checkpoints[^1].LoadInto(copy);
        Assert.Equal(final, WeightBytes(copy));
        using Network other = ModelZoo.Create("mlp:4x2", data.Train, 0);
        Assert.Contains("architectures differ", Assert.Throws<ReparoInputException>(() => checkpoints[0].LoadInto(other)).Message);
        checkpoints.ForEach(c => c.Dispose());
    }
}
