// README:usings
using Reparo.Data;
using Reparo.Models;
using Reparo.Training;
// README:end

namespace Reparo.Tests.Docs;

/// <summary>The C# example in README.md, compiled and run here so that it cannot rot.</summary>
public static class ReadmeExample
{
    public static double Run(string modelPath)
    {
        // README:body
        DataSplits data = DataCatalog.Load("fashion-mnist");                 // resolves /usr/share/datasets/fashion-mnist
        Network model = ModelZoo.Create("mlp:100x3", data.Train, seed: 0);  // 784-100-100-10, layers fc1..fc3
        Trainer.Train(model, data.Train, data.Validation, new TrainingOptions { Epochs = 2, Seed = 0 });
        EvaluationReport report = Evaluator.Evaluate(model, data.Test);
        Console.WriteLine($"test accuracy {report.Accuracy:P2}");
        ModelFile.Save(model, modelPath);
        // README:end
        return report.Accuracy;
    }
}
