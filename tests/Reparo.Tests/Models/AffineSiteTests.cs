using Reparo.Data;
using Reparo.Models;
using static TorchSharp.torch;

namespace Reparo.Tests.Models;

public sealed class AffineSiteTests
{
    [Fact]
    public void SitesAreListedInOrderAndCaptureMatchesTheLayerTrace()
    {
        Dataset data = TestSupport.RandomImages(4);
        Network network = ModelZoo.Create("cnn", data, seed: 3);
        Assert.Equal(["conv1", "conv2", "fc1", "fc2"], AffineSites.Of(network).Select(s => s.Name));
        using var scope = NewDisposeScope();
        LayerTrace trace = network.Trace(data.X);
        AffineSite fc1 = AffineSites.Find(network, "FC1");
        (Tensor output, Tensor input, Tensor siteOutput) = AffineSites.Capture(network, fc1, data.X);
        int layer = network.LayerIndex("fc1");
        Assert.True(input.SameAs(trace.InputOf(layer)));
        Assert.True(siteOutput.SameAs(trace.OutputOf(layer)));
        Assert.True(output.SameAs(trace.Activations[^1]));
    }

    [Fact]
    public void ReplacingASiteOutputChangesWhatFollows()
    {
        Dataset data = TestSupport.RandomImages(3);
        Network network = ModelZoo.Create("mlp:8x3", data, seed: 1);
        using var scope = NewDisposeScope();
        AffineSite fc2 = AffineSites.Find(network, "fc2");
        Tensor replaced = AffineSites.RunReplacing(network, fc2, data.X, o => zeros_like(o));
        // With fc2's output zeroed, the logits are fc3 applied to relu(0) = fc3's bias.
        Tensor expected = network.Layers[network.LayerIndex("fc3")].AsLinear!.bias!.expand(3, 10);
        Assert.True(replaced.allclose(expected));
        Assert.Throws<ReparoInputException>(() => AffineSites.Find(network, "conv9"));
    }
}
