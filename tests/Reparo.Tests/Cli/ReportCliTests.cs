using System.Text.Json;
using Reparo.Cli;
using Reparo.Tests.Reporting;

namespace Reparo.Tests.Cli;

/// <summary><c>--report</c> on train, eval, influence build and remediate: the file is written and opens with the run's summary; the JSON keeps its fields.</summary>
public class ReportCliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => CliRunner.Run(args);

    [Fact]
    public void TrainAndEvalWriteTheirReports()
    {
        using var dir = TestSupport.TempFolder();
        string model = dir.File("digits.reparo");
        (int code, _, string err) = Run("train", "--data", "digits", "--arch", "mlp:16x1", "--epochs", "2", "--out", model, "--report", dir.File("train.md"),
            "--json", dir.File("train.json"), "--threads", "2");
        Assert.True(code == CliApp.Success, err);
        string train = File.ReadAllText(dir.File("train.md"));
        Assert.StartsWith("# Training mlp:16x1 on digits\n", train);
        using (JsonDocument json = JsonDocument.Parse(File.ReadAllText(dir.File("train.json"))))
        {
            double accuracy = json.RootElement.GetProperty("test_accuracy").GetDouble();
            Assert.Contains($"Trained mlp:16x1 on digits: test accuracy {(100 * accuracy).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture)} %", train);
            Assert.Equal(["reparo_version", "arch", "data", "seed", "threads", "parameters", "epochs", "best_epoch", "stopped_early", "validation_accuracy", "test_accuracy", "test_n",
                "per_class_accuracy", "time_s", "samples_per_s", "out", "poison", "excluded", "warnings"], json.RootElement.EnumerateObject().Select(p => p.Name));
        }
        Assert.Contains("## Provenance", train);

        (code, string output, err) = Run("eval", "--model", model, "--data", "digits", "--report", dir.File("eval.html"), "--json", "-");
        Assert.True(code == CliApp.Success, err);
        using (JsonDocument json = JsonDocument.Parse(output))
        {
            Assert.Equal(["reparo_version", "model", "data", "split", "corruption", "severity", "accuracy", "n", "per_class_accuracy", "confusion_matrix", "class_names", "misclassified", "class_order_hint"],
                json.RootElement.EnumerateObject().Select(p => p.Name));
        }
        string html = File.ReadAllText(dir.File("eval.html"));
        Assert.Contains("accuracy", err); // the document, drawn on the console (stderr with --json -)
        Assert.Contains("Confusion matrix", err);
        Assert.Matches("<p>[^<]*digits.reparo: accuracy [0-9.]+ % on 359 samples of the test split of digits.</p>", html);
        Assert.Contains(">Confusion matrix</h2>", html);
        Browser.AssertRendersCleanly(dir.File("eval.html"));
    }

    [Fact]
    public void InfluenceBuildWritesItsReportAndQueryKeepsItsJson()
    {
        using var dir = TestSupport.TempFolder();
        string model = dir.File("lstm.reparo"), index = dir.File("lstm.influence");
        (int code, _, string err) = Run("train", "--data", "digits", "--arch", "lstm:8", "--epochs", "1", "--out", model, "--train-limit", "300", "--threads", "2");
        Assert.True(code == CliApp.Success, err);
        (code, string output, err) = Run("influence", "build", "--model", model, "--data", "digits", "--train-limit", "300", "--out", index, "--pca", "3", "--k", "3,4",
            "--theta", "0", "--report", dir.File("build.md"), "--json", dir.File("build.json"));
        Assert.True(code == CliApp.Success, err);
        Assert.Contains("K per candidate", output);
        string md = File.ReadAllText(dir.File("build.md"));
        Assert.StartsWith("# Influence model of", md);
        Assert.Contains("3 abstract states over 3 PCA components", md);
        using (JsonDocument json = JsonDocument.Parse(File.ReadAllText(dir.File("build.json"))))
        {
            Assert.Equal(["reparo_version", "model", "data", "out", "k", "pca", "mean_stability", "bic", "states", "samples", "transitions", "reached_threshold", "selection", "candidates", "time", "time_s"],
                json.RootElement.EnumerateObject().Select(p => p.Name));
            Assert.Equal(3, json.RootElement.GetProperty("k").GetInt32());
        }

        (code, output, err) = Run("influence", "query", "--index", index, "--data", "digits", "--train-limit", "300", "--index-of-test", "0", "--top", "5", "--json", "-");
        Assert.True(code == CliApp.Success, err);
        using (JsonDocument json = JsonDocument.Parse(output))
        {
            JsonElement root = json.RootElement;
            Assert.Equal(["reparo_version", "index", "data", "test_index", "label", "prediction", "failing", "fault_step", "fault_token", "pre_flip_state", "segments", "top", "time_ms", "total_ms"],
                root.EnumerateObject().Select(p => p.Name));
            Assert.Equal(5, root.GetProperty("top").GetArrayLength());
            Assert.Equal(["train_index", "source_index", "source", "label", "distance"], root.GetProperty("top")[0].EnumerateObject().Select(p => p.Name));
            Assert.Equal(["step", "symbol", "token", "state", "step_label", "support"], root.GetProperty("segments")[0].EnumerateObject().Select(p => p.Name));
        }
    }

    [Fact]
    public void RemediateWritesItsReport()
    {
        using var dir = TestSupport.TempFolder();
        (int code, string output, string err) = Run("remediate", "--level", "sample", "--data", "digits", "--classes", "all", "--arch", "lstm:16",
            "--checkpoint-epochs", "2", "--seeds", "1", "--max-faults", "2", "--train-limit", "150", "--report", dir.File("remediate.html"), "--json", "-", "--threads", "2");
        Assert.True(code == CliApp.Success, err);
        using JsonDocument json = JsonDocument.Parse(output);
        Assert.Equal(5, json.RootElement.GetProperty("conditions").GetArrayLength());
        Assert.Equal(150, json.RootElement.GetProperty("train_rows").GetInt32());
        string html = File.ReadAllText(dir.File("remediate.html"));
        Assert.Contains("Sample-level remediation (RNNRepair Table 3)", html);
        Assert.Matches("<p>[12] faults? of lstm:16 on digits", html);
        Assert.Contains(">Before and after: faults fixed per training set</h2>", html);
        Browser.AssertRendersCleanly(dir.File("remediate.html"));
    }

    [Theory]
    [InlineData("train", "--data", "digits", "--arch", "mlp:16x1", "--out", "m.reparo")]
    [InlineData("experiment", "provable", "--quick")]
    [InlineData("experiment", "informed", "--quick")]
    [InlineData("experiment", "rectification", "--quick")]
    [InlineData("experiment", "rnnrepair", "--quick")]
    [InlineData("experiment", "onnx", "--fixtures", ".")]
    [InlineData("remediate", "--level", "sample")]
    public void AReportPathOfAnUnknownKindIsAnInputErrorBeforeAnyWork(params string[] args)
    {
        using var dir = TestSupport.TempFolder();
        (int code, _, string err) = Run([.. args, "--report", dir.File("r.pdf")]);
        Assert.Equal(2, code);
        Assert.Contains("written as .html or .md", err);
        Assert.Empty(Directory.GetFiles(dir.Path));
    }
}
