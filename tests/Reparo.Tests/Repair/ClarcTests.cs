using System.Text.Json;
using Reparo.Data;
using Reparo.Experiments;
using Reparo.Models;
using Reparo.Repair.Baselines;
using Reparo.Repair.Editing;
using Reparo.Reporting;
using Reparo.Tests.Cli;
using Reparo.Training;
using static TorchSharp.torch;

namespace Reparo.Tests.Repair;

public sealed class ClarcTests
{
    /// <summary>A digits MLP with a BadNets Trojan (ASR above 80 %), trained once for the tests that need a real artifact.</summary>
    private static readonly Lazy<(Network Network, DataSplits Splits, PoisonSpec Spec)> Trojan = new(() =>
    {
        TestSupport.Init();
        DataSplits splits = DataCatalog.Load("digits", new DataOptions());
        PoisonSpec spec = PoisonSpec.Parse("badnets:0.1:0");
        DataSplits poisoned = Poisoning.Apply(splits, spec, 0).Splits;
        Network network = ModelZoo.Create("mlp:64x3", poisoned.Train, 0);
        Trainer.Train(network, poisoned.Train, null, new TrainingOptions { Epochs = 40, LearningRate = 3e-3, Seed = 0, Patience = 0 });
        double asr = RectificationMetrics.AttackSuccessRate(network, Poisoning.TriggeredTest(splits.Test, spec), 0);
        if (asr <= 0.8) throw new InvalidOperationException($"the Trojan must be planted for the tests to mean anything (ASR {asr:P1})");
        return (network, splits, spec);
    });

    private static double MaxDifference(Tensor a, Tensor b) => a.to(ScalarType.Float64).sub(b.to(ScalarType.Float64)).abs().max().item<double>();

    [Fact]
    public void PClarcFoldsTheProjectionExactlyIntoTheClassifier()
    {
        Dataset data = TestSupport.RandomImages(64, seed: 21);
        Network network = ModelZoo.Create("mlp:32x3", data, seed: 3);
        Dictionary<string, Tensor> weightsBefore = network.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        Tensor clean = data.X.narrow(0, 0, 3), corrupted = RectifierTests.Stamp(clean);
        RectificationResult result = ClassArtifactCompensation.Project(network, corrupted, clean, data);

        AffineSite site = ClassArtifactCompensation.Site(network);
        Assert.Equal("fc3", site.Name);
        Assert.Equal(["fc3"], result.Layers);
        Tensor v = ClassArtifactCompensation.ArtifactDirection(network, site, corrupted, clean);
        Assert.True(Math.Abs(v.norm().item<double>() - 1) < 1e-9);
        (_, Tensor cleanInput, _) = AffineSites.Capture(network, site, clean);
        Tensor z = cleanInput.to(ScalarType.Float64).mean([0]);
        Tensor Projected(Tensor a)
        {
            Tensor a64 = a.to(ScalarType.Float64);
            return a64.sub(outer(a64.sub(z).matmul(v), v)).to(a.dtype);
        }
        // The original model with the classifier's input projected, against the edited model as it is.
        var tap = new ModuleTap(site.Name, site.Module);
        Tensor expected, actual;
        using (no_grad())
        {
            expected = ModuleTaps.ScoresReplacingFromInput(network, tap, data.X, a => nn.functional.linear(Projected(a), site.Weight, site.Bias));
            actual = result.Network.Logits(data.X);
        }
        double scale = Math.Max(1, expected.abs().max().item<float>());
        Assert.True(MaxDifference(expected, actual) < 1e-5 * scale, $"folded logits differ by {MaxDifference(expected, actual)}");
        // The projection does change the model's outputs, so the comparison above is not trivially true.
        Assert.True(MaxDifference(network.Logits(data.X), actual) > 1e-3);

        // Activations that differ only along v give identical logits after the edit, but not before.
        AffineSite edited = AffineSites.Find(result.Network, site.Name);
        Tensor shift = v.mul(5).to(ScalarType.Float32);
        Tensor shiftedAfter, shiftedBefore;
        using (no_grad())
        {
            shiftedAfter = ModuleTaps.ScoresReplacingFromInput(result.Network, new ModuleTap(edited.Name, edited.Module), data.X,
                a => nn.functional.linear(a.add(shift), edited.Weight, edited.Bias));
            shiftedBefore = ModuleTaps.ScoresReplacingFromInput(network, tap, data.X, a => nn.functional.linear(a.add(shift), site.Weight, site.Bias));
        }
        Assert.True(MaxDifference(shiftedAfter, actual) < 1e-5 * scale, $"a shift along v moved the edited logits by {MaxDifference(shiftedAfter, actual)}");
        Assert.True(MaxDifference(shiftedBefore, network.Logits(data.X)) > 1e-2, "the shift along v must matter to the original model");

        // Architecture-preserving: only the classifier's weight and bias changed; the input network is untouched.
        foreach ((string name, Tensor value) in network.state_dict())
        {
            Assert.True(weightsBefore[name].SameAs(value), $"{name} of the input network changed");
            bool same = result.Network.state_dict()[name].SameAs(value);
            Assert.True(name.StartsWith("fc3.", StringComparison.Ordinal) ? !same : same, $"{name}: changed {!same}");
        }
        Assert.Contains("P-ClArC", result.Network.Provenance.History[^1]);
    }

    [Fact]
    public void ClarcRefusesAConvolutionWithOneClearMessage()
    {
        Dataset data = TestSupport.RandomImages(32, seed: 22);
        Network network = ModelZoo.Create("cnn", data, seed: 2);
        Tensor clean = data.X.narrow(0, 0, 2), corrupted = RectifierTests.Stamp(clean);
        var atConv = new ClarcOptions("conv1");
        var projective = Assert.Throws<ReparoInputException>(() => ClassArtifactCompensation.Project(network, corrupted, clean, data, atConv));
        var augmentive = Assert.Throws<ReparoInputException>(() => ClassArtifactCompensation.Augment(network, corrupted, clean, data, data.X, data.Y, atConv));
        foreach (ReparoInputException e in new[] { projective, augmentive })
        {
            Assert.Equal("ClArC works at the input of a Linear layer, and conv1 is a convolution: the projection's constant term cannot be folded exactly into a padded convolution", e.Message);
            Assert.Single(e.Message.Split('\n'));
        }
        // The default site of the cnn is its classifier, a Linear layer.
        Assert.Equal(AffineSites.Of(network)[^1].Name, ClassArtifactCompensation.Project(network, corrupted, clean, data).Layers.Single());
        // Identical pairs have no artifact direction; the rectifier itself refuses the baselines' modes.
        Assert.Contains("no artifact direction", Assert.Throws<ReparoInputException>(() => ClassArtifactCompensation.Project(network, clean, clean, data)).Message);
        Assert.Contains("baseline", Assert.Throws<ReparoInputException>(() => Rectifier.Rectify(network, corrupted, clean, [0, 0], data, data.X, new RectifyOptions(RectifyMode.PClarc))).Message);
    }

    [Fact]
    public void AClarcIsDeterministicAndShrinksTheClassifiersResponseAlongTheArtifact()
    {
        (Network network, DataSplits splits, PoisonSpec spec) = Trojan.Value;
        CleansedPairs pairs = Poisoning.Pairs(spec, splits.Validation, 4, 0);
        Tensor clean = pairs.Clean, corrupted = pairs.Corrupted;
        Dataset heldOut = splits.Validation;
        Tensor inputs = splits.Train.X.narrow(0, 0, 500), labels = splits.Train.Y.narrow(0, 0, 500);
        RectificationResult first = ClassArtifactCompensation.Augment(network, corrupted, clean, heldOut, inputs, labels, new ClarcOptions(Seed: 7));
        RectificationResult again = ClassArtifactCompensation.Augment(network, corrupted, clean, heldOut, inputs, labels, new ClarcOptions(Seed: 7));
        RectificationResult other = ClassArtifactCompensation.Augment(network, corrupted, clean, heldOut, inputs, labels, new ClarcOptions(Seed: 8));
        foreach ((string name, Tensor value) in first.Network.state_dict())
        {
            Assert.True(again.Network.state_dict()[name].SameAs(value), $"{name} differs between two runs with the same seed");
            bool trained = name.StartsWith("fc3.", StringComparison.Ordinal);
            Assert.True(network.state_dict()[name].SameAs(value) != trained, $"{name}: only the classifier is trained");
        }
        Assert.False(other.Network.state_dict()["fc3.weight"].SameAs(first.Network.state_dict()["fc3.weight"]), "the seed orders the mini-batches");

        AffineSite site = ClassArtifactCompensation.Site(network);
        Tensor v = ClassArtifactCompensation.ArtifactDirection(network, site, corrupted, clean).to(ScalarType.Float32);
        double before = site.Weight.matmul(v).norm().item<float>();
        double after = AffineSites.Find(first.Network, site.Name).Weight.matmul(v).norm().item<float>();
        Assert.True(after < before, $"|W v| {before:G4} → {after:G4}");
        Console.WriteLine($"A-ClArC |W v| {before:G4} → {after:G4}");
        RectificationRound round = Assert.Single(first.Rounds);
        Assert.Equal(("fc3", "adam", true), (round.Layer, round.Solver, round.Kept));
        Assert.True(round.DeltaNorm > 0 && first.Time.Total > 0);
    }

    [Fact]
    public void BothBaselinesRunThroughTheHarnessAndTheCli()
    {
        (Network trojan, DataSplits splits, PoisonSpec spec) = Trojan.Value;
        Network network = trojan.Clone();
        var rows = new List<RectificationExperimentRow>();
        foreach (string method in new[] { "p-clarc", "a-clarc" })
        {
            var options = new RectifyOptions(RectifyModes.Parse(method), Seed: 0);
            RectificationRun run = RectificationRun.Execute(network, spec, splits, 1, options, 500, 0);
            RectificationReport report = run.Report();
            Assert.Equal(method, report.Method);
            Assert.Equal(["fc3"], report.Layers);
            Assert.True(report.AsrAfter < report.AsrBefore, $"{method}: ASR {report.AsrBefore} → {report.AsrAfter}");
            Assert.True(report.GapAfter < report.GapBefore, $"{method}: pair gap {report.GapBefore:G3} → {report.GapAfter:G3}");
            Console.WriteLine($"{method}: ASR {report.AsrBefore:P1} → {report.AsrAfter:P1}, OA {report.AccuracyBefore:P1} → {report.AccuracyAfter:P1}, gap {report.GapBefore:G3} → {report.GapAfter:G3}, {report.TimeS:F2} s");
            rows.Add(new RectificationExperimentRow("mlp", 1, 0, double.NaN, report));
        }
        string markdown = RectificationExperimentPlan.ToMarkdown(new RectificationExperimentReport("test", 2, 0, 1, true, rows), "r.json");
        Assert.Contains("| mlp | 1 | p-clarc | fc3 |", markdown);
        Assert.Contains("| mlp | 1 | a-clarc | fc3 |", markdown);
        Assert.Contains("`p-clarc`/`a-clarc` are the Class Artifact Compensation", markdown);

        using TempFolder folder = TestSupport.TempFolder();
        string model = folder.File("trojan.reparo"), json = folder.File("r.json"), html = folder.File("r.html");
        network.Provenance = network.Provenance with { Poison = spec.ToString() };
        ModelFile.Save(network, model);
        (int code, string output, string err) = CliRunner.Run("rectify", "--model", model, "--data", "digits", "--pairs", "trojan:1", "--mode", "p-clarc",
            "--statistics-samples", "500", "--json", json, "--report", html);
        Assert.True(code == 0, err);
        Assert.Contains("fc3 (projection", output);
        Assert.Contains("p-clarc is a baseline (Class Artifact Compensation", File.ReadAllText(html));
        using (JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json)))
            Assert.Equal("p-clarc", doc.RootElement.GetProperty("method").GetString());
        (int bad, _, string badErr) = CliRunner.Run("rectify", "--model", model, "--data", "digits", "--pairs", "trojan:1", "--mode", "pclarc");
        Assert.Equal(2, bad);
        Assert.Contains("p-clarc", badErr);
    }
}
