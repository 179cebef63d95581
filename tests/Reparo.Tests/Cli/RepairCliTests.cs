using System.Text.Json;
using Reparo.Cli;
using Reparo.Data;
using Reparo.Models;
using Reparo.Tests.Reporting;

namespace Reparo.Tests.Cli;

public class RepairCliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => CliRunner.Run(args);

    /// <summary>An untrained digits MLP saved to disk, and a repair-set file asking three test digits for the class after the predicted one.</summary>
    private static (string Model, string RepairFile) Setup(TempFolder dir)
    {
        DataSplits splits = DataCatalog.Load("digits");
        Network network = ModelZoo.Create("mlp:16x2", splits.Train, seed: 4);
        string model = dir.File("digits.reparo");
        ModelFile.Save(network, model);
        long[] predicted = network.Predict(splits.Test.X.narrow(0, 0, 3));
        float[] values = splits.Test.X.narrow(0, 0, 3).contiguous().data<float>().ToArray();
        var inputs = Enumerable.Range(0, 3).Select(i => values.Skip(i * 64).Take(64).ToArray()).ToArray();
        string file = dir.File("repair.json");
        File.WriteAllText(file, JsonSerializer.Serialize(new { inputs, labels = predicted.Select(p => (p + 1) % 10).ToArray() }));
        return (model, file);
    }

    [Fact]
    public void ProvableRepairWritesAVerifiedModelAndTheDocumentedJson()
    {
        using var dir = TestSupport.TempFolder();
        (string model, string repairFile) = Setup(dir);
        string output = dir.File("repaired.reparo"), json = dir.File("report.json");
        (int code, string stdout, string err) = Run("repair", "--method", "provable", "--model", model, "--data", "digits", "--repair-set", $"file:{repairFile}",
            "--layer", "fc2", "--out", output, "--json", json, "--threads", "2");
        Assert.True(code == CliApp.Success, err);
        Assert.Contains("provable: yes", stdout);
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        JsonElement root = doc.RootElement;
        foreach (string field in new[] { "method", "layer", "efficacy", "verified", "drawdown", "generalization", "param_delta_linf", "param_delta_l1", "changed_predictions", "time_s", "lp", "solver", "status", "guard_band_float32", "guard_band_float64" })
            Assert.True(root.TryGetProperty(field, out _), $"missing {field}");
        Assert.Equal("provable", root.GetProperty("method").GetString());
        Assert.Equal("fc2", root.GetProperty("layer").GetString());
        Assert.True(root.GetProperty("verified").GetBoolean());
        Assert.Equal(1.0, root.GetProperty("efficacy").GetDouble());
        Assert.True(root.GetProperty("lp").GetProperty("rows").GetInt32() > 0);
        Assert.True(root.GetProperty("time_s").GetProperty("solve").GetDouble() > 0);
        // Reading the repair file and checking it against the model is the repair set's preparation, timed apart from the method.
        Assert.True(root.GetProperty("time_s").GetProperty("prepare").GetDouble() > 0);

        // The written model is the verified one: it classifies the three inputs as required.
        Network repaired = ModelFile.Load(output);
        using JsonDocument request = JsonDocument.Parse(File.ReadAllText(repairFile));
        long[] wanted = request.RootElement.GetProperty("labels").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        long[] got = repaired.Predict(DataCatalog.Load("digits").Test.X.narrow(0, 0, 3));
        Assert.Equal(wanted, got);
        Assert.Contains(repaired.Provenance.History, h => h.Contains("repaired by reparo repair --method provable", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("--method magic", "unknown repair method 'magic'")]
    [InlineData("--method provable --rows 5:2", "--rows '5:2'")]
    [InlineData("--method provable --solver cplex", "unknown solver 'cplex'")]
    [InlineData("--method provable --solver highs --solver-option no_such_highs_option=1", "rejected the solver options")]
    [InlineData("--method provable --solver-option no_such_option=1", "block-ipm has no option 'no_such_option'")]
    [InlineData("--method provable --layer relu1", "LP repair edits a Linear or convolution layer")]
    [InlineData("--method provable --epsilon -1", "--epsilon must be a positive number")]
    public void BadRepairArgumentsExitWithTwoAndWriteNothing(string args, string fragment)
    {
        using var dir = TestSupport.TempFolder();
        (string model, string repairFile) = Setup(dir);
        string output = dir.File("repaired.reparo");
        string[] common = ["repair", "--model", model, "--data", "digits", "--repair-set", $"file:{repairFile}", "--out", output, "--threads", "2"];
        string[] extra = args.Split(' ');
        if (!extra.Contains("--layer")) extra = [.. extra, "--layer", "fc2"];
        (int code, _, string err) = Run([.. common, .. extra]);
        Assert.Equal(CliApp.BadInput, code);
        string[] lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains(fragment, lines[0]);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void ReportIsOneSelfContainedPageWithTheCommandLine()
    {
        using var dir = TestSupport.TempFolder();
        (string model, string repairFile) = Setup(dir);
        string report = dir.File("out/report.html");
        (int code, string stdout, string err) = Run("repair", "--method", "provable", "--model", model, "--data", "digits", "--repair-set", $"file:{repairFile}",
            "--layer", "fc2", "--report", report, "--threads", "2");
        Assert.True(code == CliApp.Success, err);
        Assert.Contains($"report written to {report}", stdout);
        string html = File.ReadAllText(report);
        Assert.Contains("Verified: the independent check accepted all 3 regions", html);
        Assert.Contains($"<pre>reparo repair --method provable --model {model} --data digits --repair-set file:{repairFile} --layer fc2 --report {report} --threads 2</pre>", html);
        Assert.Contains("<th scope=\"row\">TorchSharp</th>", html);
        Browser.AssertRendersCleanly(report, minimumImages: 3);
    }

    [Theory]
    [InlineData("report.pdf", "written as .html or .md")]
    [InlineData("folder.html", "is a folder")]
    [InlineData("model-as-folder/report.html", "is a file, not a folder")]
    public void BadReportPathsExitWithTwoBeforeAnyWork(string name, string fragment)
    {
        using var dir = TestSupport.TempFolder();
        (string model, string repairFile) = Setup(dir);
        Directory.CreateDirectory(dir.File("folder.html"));
        File.Copy(model, dir.File("model-as-folder"));
        string output = dir.File("repaired.reparo");
        (int code, _, string err) = Run("repair", "--method", "provable", "--model", model, "--data", "digits", "--repair-set", $"file:{repairFile}",
            "--layer", "fc2", "--out", output, "--report", dir.File(name), "--threads", "2");
        Assert.Equal(CliApp.BadInput, code);
        Assert.Contains(fragment, Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        Assert.False(File.Exists(output));
        Assert.Equal(["digits.reparo", "model-as-folder", "repair.json"], Directory.GetFiles(dir.Path).Select(Path.GetFileName).Order());
    }
}
