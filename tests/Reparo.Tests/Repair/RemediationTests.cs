using Reparo.Data;
using Reparo.Models;
using Reparo.Repair;
using Reparo.Repair.Baselines;
using static TorchSharp.torch;

namespace Reparo.Tests.Repair;

public class RemediationTests
{
    private const int Samples = 40;

    /// <summary>
    /// A 64-16-10 MLP (flatten, fc1, relu1, fc2) on random 8×8 images and a repair set of the first
    /// <paramref name="points"/> images, each required to be a class the network does not predict: the next class
    /// after its prediction, or (<paramref name="leastLikely"/>) its lowest-scoring class.
    /// </summary>
    private static RepairProblem Problem(int points, bool leastLikely = false)
    {
        Dataset data = TestSupport.RandomImages(Samples, size: 8, seed: 3);
        Network network = ModelZoo.Create("mlp:16x2", data, seed: 1);
        using Tensor logits = network.Logits(data.X);
        Tensor wanted = leastLikely ? logits.argmin(1) : (logits.argmax(1) + 1).remainder(data.ClassCount);
        RepairSet set = RepairSet.FromPoints(data.WithLabels(wanted, "wanted"), Enumerable.Range(0, points).ToArray(), "first points");
        return new RepairProblem(network, set, data.Subset(Enumerable.Range(points, Samples - points).ToArray()), null);
    }

    private static Dictionary<string, Tensor> Snapshot(Network network) =>
        network.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());

    private static double Distance(Network a, Network b)
    {
        Dictionary<string, Tensor> other = b.state_dict();
        return Math.Sqrt(a.state_dict().Sum(kv => (kv.Value - other[kv.Key]).square().sum().item<float>()));
    }

    [Fact]
    public void FineTuningOneLayerRepairsAndLeavesTheOtherLayersBitIdentical()
    {
        RepairProblem problem = Problem(5);
        Assert.All(problem.RepairSet.Regions, r => Assert.NotEqual(r.Label, problem.Network.Predict(r.Vertices)[0]));

        // Training fc1 with fc2 frozen: gradients flow through fc2, so a leaking freeze would show there.
        RepairResult result = new FineTuneRepair(new FineTuneOptions("fc1")).Repair(problem);

        Assert.Equal(RepairStatus.Repaired, result.Status);
        Assert.True(result.Verified, result.Message);
        Assert.Equal(("ft", "fc1"), (result.Method, result.Layer));
        Assert.Matches("^[1-9][0-9]* Adam steps? ", result.Notes.Single());
        Network repaired = result.Model!.PlainNetwork!;
        Assert.All(problem.RepairSet.Regions, r => Assert.Equal(r.Label, repaired.Predict(r.Vertices)[0]));
        Dictionary<string, Tensor> before = problem.Network.state_dict(), after = repaired.state_dict();
        Assert.True(after["fc2.weight"].SameAs(before["fc2.weight"]) && after["fc2.bias"].SameAs(before["fc2.bias"]), "the frozen layer fc2 changed");
        Assert.False(after["fc1.weight"].SameAs(before["fc1.weight"]), "the trained layer fc1 did not change");
        Assert.All(repaired.parameters(), p => Assert.True(p.requires_grad, "the returned network should be trainable again"));
    }

    [Fact]
    public void FineTuningAllLayersChangesEveryLayerButNotTheInputNetwork()
    {
        RepairProblem problem = Problem(5);
        Dictionary<string, Tensor> original = Snapshot(problem.Network);

        RepairResult result = new FineTuneRepair(new FineTuneOptions("all")).Repair(problem);

        Assert.True(result.Verified, result.Message);
        Assert.Equal("all", result.Layer);
        Assert.All(problem.Network.state_dict(), kv => Assert.True(kv.Value.SameAs(original[kv.Key]), $"the input network's {kv.Key} changed"));
        Network repaired = result.Model!.PlainNetwork!;
        Assert.All(repaired.state_dict(), kv => Assert.False(kv.Value.SameAs(original[kv.Key]), $"{kv.Key} was not trained"));
    }

    [Fact]
    public void ModifiedFineTuningRepairsWithSmallerParameterChangeThanFineTuning()
    {
        RepairProblem problem = Problem(8);
        var ft = new FineTuneOptions("all", LearningRate: 1e-2);
        var mft = ft with { ChangePenalty = 0.1 };

        RepairResult plain = new FineTuneRepair(ft).Repair(problem);
        RepairResult penalised = new FineTuneRepair(mft).Repair(problem);
        RepairResult again = new FineTuneRepair(mft).Repair(problem);

        Assert.True(plain.Verified, plain.Message);
        Assert.True(penalised.Verified, penalised.Message);
        Assert.Equal(("ft", "mft"), (plain.Method, penalised.Method));
        double plainChange = Distance(plain.Model!.PlainNetwork!, problem.Network);
        double penalisedChange = Distance(penalised.Model!.PlainNetwork!, problem.Network);
        Assert.True(penalisedChange < plainChange, $"mft moved the parameters {penalisedChange:G4} (L2), ft {plainChange:G4}");
        Assert.Equal(0, Distance(again.Model!.PlainNetwork!, penalised.Model!.PlainNetwork!));
        Assert.Equal(penalised.Notes, again.Notes);
    }

    [Fact]
    public void FineTuningOutOfStepsReportsTimeLimitAndReturnsTheUnverifiedModel()
    {
        RepairProblem problem = Problem(20, leastLikely: true);

        RepairResult result = new FineTuneRepair(new FineTuneOptions("fc2", MaxSteps: 1)).Repair(problem);

        Assert.Equal(RepairStatus.TimeLimit, result.Status);
        Assert.False(result.Verified);
        Assert.Matches("^[1-9][0-9]* of 20 vertices still misclassified after the step budget of 1 steps$", result.Message);
        Assert.StartsWith("1 Adam step ", result.Notes.Single());
        Assert.NotNull(result.Model);
        Assert.False(result.Verification!.Verified);
        Assert.True(result.Verification.Efficacy < 1);
    }

    [Fact]
    public void FineTuningThatDivergesReportsNumericalTroubleWithoutAModel()
    {
        RepairResult result = new FineTuneRepair(new FineTuneOptions("all", LearningRate: 1e30)).Repair(Problem(20, leastLikely: true));

        Assert.Equal(RepairStatus.NumericalTrouble, result.Status);
        Assert.Contains("non-finite", result.Message);
        Assert.Null(result.Model);
    }

    [Fact]
    public void FineTuningRejectsBadOptionsAndLayersWithoutParameters()
    {
        RepairProblem problem = Problem(2);
        Assert.Contains("layer relu1 has no parameters", Assert.Throws<ReparoInputException>(() => new FineTuneRepair(new FineTuneOptions("relu1")).Repair(problem)).Message);
        Assert.Contains("no layer 'fc7'", Assert.Throws<ReparoInputException>(() => new FineTuneRepair(new FineTuneOptions("fc7")).Repair(problem)).Message);
        Assert.Throws<ReparoInputException>(() => new FineTuneRepair(new FineTuneOptions("fc2", LearningRate: 0)));
        Assert.Throws<ReparoInputException>(() => new FineTuneRepair(new FineTuneOptions("fc2", MaxSteps: 0)));
        Assert.Throws<ReparoInputException>(() => new FineTuneRepair(new FineTuneOptions("fc2", ChangePenalty: -1)));
    }

    [Fact]
    public void LookupTableFixesExactlyTheRepairInputsAndNothingElse()
    {
        RepairProblem problem = Problem(5);
        using Network double64 = PlainRepairedModel.ToFloat64(problem.Network);

        RepairResult result = new LookupTableRepair().Repair(problem);

        Assert.Equal(RepairStatus.Repaired, result.Status);
        Assert.True(result.Verified, result.Message);
        IRepairedModel model = result.Model!;
        Assert.Null(model.PlainNetwork);
        Assert.Equal("lookup table over 5 repair vertices + original network", model.Kind);
        Tensor others = problem.Drawdown.X;
        Assert.True(model.Logits(others, ScalarType.Float32).SameAs(problem.Network.Logits(others)));
        Assert.True(model.Logits(others, ScalarType.Float64).SameAs(double64.Logits(others.to(ScalarType.Float64))));
        foreach (RepairRegion region in problem.RepairSet.Regions)
        {
            foreach (ScalarType dtype in new[] { ScalarType.Float32, ScalarType.Float64 })
            {
                Tensor input = region.Vertices.to(dtype);
                Tensor logits = model.Logits(input, dtype);
                Assert.Equal(dtype, logits.dtype);
                double[] patched = logits.to(ScalarType.Float64).data<double>().ToArray();
                double[] plain = (dtype == ScalarType.Float32 ? problem.Network : double64).Logits(input).to(ScalarType.Float64).data<double>().ToArray();
                int label = (int)region.Label;
                double largestOther = plain.Where((_, c) => c != label).Max();
                Assert.Equal(dtype == ScalarType.Float32 ? (float)(largestOther + 1) : largestOther + 1, patched[label]);
                Assert.Equal(plain.Where((_, c) => c != label), patched.Where((_, c) => c != label));
            }
            Tensor nudged = region.Vertices.clone();
            nudged[0].view(-1)[0].add_(1e-6f);
            Assert.True(model.Logits(nudged, ScalarType.Float32).SameAs(problem.Network.Logits(nudged)), "an input one step away from a vertex was treated as the vertex");
        }
    }

    [Fact]
    public void LookupTableCannotRepairPolytopesAndContradictionsNeverReachIt()
    {
        RepairProblem problem = Problem(2);
        RepairRegion first = problem.RepairSet.Regions[0], second = problem.RepairSet.Regions[1];
        var polytope = new RepairRegion(cat([first.Vertices, second.Vertices]), first.Label, "segment");
        var contradiction = first with { Label = (first.Label + 1) % problem.Network.ClassCount, Id = "again" };

        RepairResult onPolytope = new LookupTableRepair().Repair(problem with { RepairSet = new RepairSet([polytope], "segment") });

        Assert.Equal(RepairStatus.NotVerified, onPolytope.Status);
        RegionCheck check = onPolytope.Verification!.Regions.Single();
        Assert.True(check.MarginFloat32 > 0 && check.MarginFloat64 > 0, "both vertices should be memorised");
        Assert.Equal(false, check.LinearOnRegion);
        // One input asked to be two classes is refused when the repair set is made, naming both regions.
        var refused = Assert.Throws<ReparoInputException>(() => new RepairSet([first, contradiction], "contradiction"));
        Assert.Contains($"region {first.Id}", refused.Message);
        Assert.Contains("region again", refused.Message);
    }
}
