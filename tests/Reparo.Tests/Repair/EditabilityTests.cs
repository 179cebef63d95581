using Reparo.Data;
using Reparo.Models;
using Reparo.Repair.Editing;
using static TorchSharp.torch;

namespace Reparo.Tests.Repair;

public sealed class EditabilityTests
{
    [Fact]
    public void ALayerWhereThePairDoesNotDifferIsReportedAsNotEditableAndNeverPicked()
    {
        Dataset data = TestSupport.RandomImages(64, seed: 5);
        Network network = ModelZoo.Create("mlp:32x3", data, seed: 2);
        Tensor clean = data.X.narrow(0, 0, 1).clone();
        Tensor corrupted = clean.clone();
        corrupted[TensorIndex.Colon, TensorIndex.Colon, TensorIndex.Slice(24, 27), TensorIndex.Slice(24, 27)] = tensor(1f);
        AffineSite fc1 = AffineSites.Find(network, "fc1"), fc2 = AffineSites.Find(network, "fc2");
        // Every fc1 unit is far below zero for both inputs, so the ReLU after it gives fc2 the same (zero) keys for the pair,
        // while fc1's own keys and values differ.
        using (no_grad()) fc1.AsLinear!.bias!.fill_(-100f);
        using var statistics = new KeyStatistics(network, data.X);
        IReadOnlyList<LayerEditability> scores = Editability.Score(network, [fc1, fc2], corrupted, clean, data.Labels().Take(1).ToArray(), statistics, new EditOptions());

        Assert.Null(scores[0].NotEditable);
        Assert.False(string.IsNullOrWhiteSpace(scores[1].NotEditable));
        Assert.Equal("fc1", Editability.Pick(scores, EditabilityScore.Raw).Layer);
        Assert.Equal("fc1", Editability.Pick(scores, EditabilityScore.PerParameter).Layer);
        var none = Assert.Throws<ReparoInputException>(() => Editability.Pick([scores[1]], EditabilityScore.Raw));
        Assert.Contains("fc2: ", none.Message);
    }
}
