using System.Text.Json;
using Reparo.Cli;
using Reparo.Data;
using Reparo.Localisation;
using Reparo.Models;
using Reparo.Repair;
using Reparo.Tests.Reporting;

namespace Reparo.Tests.Cli;

public class StudyCliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => CliRunner.Run(args);

    private static string SavedDigitsModel(TempFolder dir, string? poison = null)
    {
        DataSplits splits = DataCatalog.Load("digits");
        Network network = ModelZoo.Create("mlp:16x3", splits.Train, seed: 5);
        network.Provenance = network.Provenance with { Poison = poison };
        string path = dir.File("digits.reparo");
        ModelFile.Save(network, path);
        return path;
    }

    [Fact]
    public void StudyWritesTheDocumentedJsonAndAPlot()
    {
        using var dir = TestSupport.TempFolder();
        string model = SavedDigitsModel(dir);
        string json = dir.File("study.json"), png = dir.File("study.png");
        (int code, string stdout, string err) = Run("study", "--model", model, "--data", "digits", "--repair-set", "gaussian-noise:3", "--sizes", "4",
            "--methods", "provable,edit", "--heuristics", "all", "--json", json, "--plot", png, "--report", dir.File("study.html"), "--threads", "2");
        Assert.True(code == CliApp.Success, err);
        Assert.Contains("within 10 %", stdout);
        // The report: the automatic choice's record first, the two plots, the table.
        string html = File.ReadAllText(dir.File("study.html"));
        Assert.Matches("<p>The automatic choice came within 10.00 % of the best drawdown in [0-9.]+ % of the cases", html);
        Assert.Contains(">Regret and cost</h2>", html);
        Assert.Equal(2, Browser.AssertRendersCleanly(dir.File("study.html")).Images);
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        JsonElement root = doc.RootElement;
        Assert.InRange(root.GetProperty("auto_within_10pct_share").GetDouble(), 0, 1);
        Assert.True(root.GetProperty("auto_cost_ratio").GetDouble() > 0);
        JsonElement[] cases = [.. root.GetProperty("cases").EnumerateArray()];
        Assert.Equal(2, cases.Length);
        foreach (JsonElement c in cases)
        {
            string best = c.GetProperty("best_layer").GetString()!;
            Assert.Contains(best, c.GetProperty("layers").EnumerateArray().Select(l => l.GetProperty("layer").GetString()));
            JsonElement[] heuristics = [.. c.GetProperty("heuristics").EnumerateArray()];
            Assert.NotEmpty(heuristics);
            foreach (JsonElement h in heuristics)
            {
                Assert.False(string.IsNullOrEmpty(h.GetProperty("pick").GetString()));
                Assert.True(h.TryGetProperty("drawdown_regret", out _));
                Assert.True(h.TryGetProperty("rank_correlation", out _));
            }
            Assert.True(c.TryGetProperty("auto_within_10pct", out _));
        }
        Assert.Single(root.GetProperty("analyses").EnumerateArray());
        byte[] header = File.ReadAllBytes(png)[..8];
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0d, 0x0a, 0x1a, 0x0a }, header);
    }

    [Theory]
    [InlineData("--heuristics", "guesswork", "unknown layer heuristic 'guesswork'")]
    [InlineData("--sizes", "0", "--sizes: '0' is not a positive integer")]
    [InlineData("--methods", "lookup", "has no layer to choose")]
    [InlineData("--methods", "magic", "unknown repair method 'magic'")]
    public void StudyRejectsBadOptionsInOneLine(string option, string value, string message)
    {
        using var dir = TestSupport.TempFolder();
        string model = SavedDigitsModel(dir);
        (int code, _, string err) = Run("study", "--model", model, "--data", "digits", "--repair-set", "gaussian-noise:3", option, value);
        Assert.Equal(CliApp.BadInput, code);
        Assert.Contains(message, err);
        Assert.Single(err.Trim().Split('\n'));
    }

    [Fact]
    public void RepairLayerAutoSaysWhichLayerAndWhy()
    {
        using var dir = TestSupport.TempFolder();
        string model = SavedDigitsModel(dir);
        string json = dir.File("r.json");
        (int code, string stdout, string err) = Run("repair", "--method", "provable", "--model", model, "--data", "digits", "--repair-set", "gaussian-noise:3:3",
            "--layer", "auto", "--json", json, "--threads", "2");
        Assert.True(code == CliApp.Success, err);
        Assert.Contains("layer auto: fc1, by the lp-budget rule (the earliest layer whose predicted LP has at most", stdout);
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal("fc1", doc.RootElement.GetProperty("layer").GetString());
        JsonElement choice = doc.RootElement.GetProperty("layer_choice");
        Assert.Equal("lp-budget", choice.GetProperty("heuristic").GetString());
        Assert.Equal(3, choice.GetProperty("scores").GetArrayLength());
    }

    [Fact]
    public void LayerAutoForFineTuningUsesTheChangeRuleOrSaysWhyNot()
    {
        DataSplits splits = DataCatalog.Load("digits");
        Network network = ModelZoo.Create("mlp:16x3", splits.Train, seed: 5);
        RepairProblem problem = RepairSetSpec.Build("gaussian-noise:3:4", network, splits, 0);
        var context = new LayerChoiceContext(network, problem.RepairSet, LayerHeuristics.Candidates(network, "ft"));
        Assert.Equal("change", LayerHeuristics.ChooseAuto("ft", context).Heuristic);
        var bare = new RepairSet([.. problem.RepairSet.Regions.Select(r => r with { Counterpart = null })], "no counterparts");
        LayerChoice fallback = LayerHeuristics.ChooseAuto("ft", context with { RepairSet = bare });
        Assert.Equal("fc2", fallback.Layer);
        Assert.Contains("the change rule needs clean counterparts", fallback.Reason);
    }

    [Fact]
    public void EditRepairsAtANamedLayerAndChecksTheResult()
    {
        using var dir = TestSupport.TempFolder();
        string model = SavedDigitsModel(dir);
        string json = dir.File("r.json");
        (int code, _, string err) = Run("repair", "--method", "edit", "--model", model, "--data", "digits", "--repair-set", "gaussian-noise:3:3",
            "--layer", "fc2", "--json", json, "--threads", "2");
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        JsonElement root = doc.RootElement;
        Assert.Equal("edit", root.GetProperty("method").GetString());
        Assert.Equal("fc2", root.GetProperty("layer").GetString());
        // Verified or not, the efficacy is the verifier's and the exit code says which.
        Assert.Equal(root.GetProperty("verified").GetBoolean() ? CliApp.Success : CliApp.BadInput, code);
        Assert.True(root.GetProperty("param_delta_linf").GetDouble() > 0, err);
        (int noCounterparts, _, string message) = Run("repair", "--method", "edit", "--model", model, "--data", "digits", "--repair-set", "file:/nonexistent.json", "--layer", "fc2");
        Assert.Equal(CliApp.BadInput, noCounterparts);
        Assert.Contains("repair-set file not found", message);
    }

    [Fact]
    public void TrojanRepairSetsKeepTheCleanImagesAndNeedATrojanModel()
    {
        using var dir = TestSupport.TempFolder();
        DataSplits splits = DataCatalog.Load("digits");
        Network clean = ModelFile.Load(SavedDigitsModel(dir));
        var error = Assert.Throws<ReparoInputException>(() => RepairSetSpec.Build("trojan:3", clean, splits, 0));
        Assert.Contains("records no poisoning", error.Message);

        // An untrained model predicts some triggered images as the target class: those are the repair points.
        Network trojan = clean.Clone();
        long target = trojan.Predict(splits.Test.X)[0];
        trojan.Provenance = trojan.Provenance with { Poison = $"badnets:0.1:{target}" };
        RepairProblem problem = RepairSetSpec.Build("trojan:2", trojan, splits, 0);
        Assert.Equal(2, problem.RepairSet.Regions.Count);
        foreach (RepairRegion region in problem.RepairSet.Regions)
        {
            Assert.NotEqual(target, region.Label);
            Assert.Equal(target, trojan.Predict(region.Vertices)[0]);
            using var difference = region.Vertices.sub(region.Counterpart!).abs();
            long changed = difference.gt(1e-6).sum().item<long>();
            Assert.InRange(changed, 1, Poisoning.PatchSize * Poisoning.PatchSize); // only the trigger patch differs
        }
        Assert.Equal(splits.Test.Count - 2, problem.Drawdown.Count);
        Assert.Contains("at most", Assert.Throws<ReparoInputException>(() => RepairSetSpec.Build("trojan:100000", trojan, splits, 0)).Message);
    }
}
