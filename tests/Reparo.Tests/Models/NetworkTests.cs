using Reparo.Data;
using Reparo.Models;
using static TorchSharp.torch;

namespace Reparo.Tests.Models;

public class NetworkTests
{
    public static TheoryData<string, bool> Architectures => new()
    {
        { "mlp:100x3", false }, { "mlp:20x9", false }, { "cnn", false }, { "lstm:16", false }, { "gru:16", false }, { "vit", false },
        { "lstm:16", true }, { "gru:16", true }, { "text:8", true },
    };

    private static Dataset DataFor(bool tokens) => tokens ? TestSupport.RandomTokens(6) : TestSupport.RandomImages(6);

    [Theory]
    [MemberData(nameof(Architectures))]
    public void AnySliceComposesToTheFullForward(string arch, bool tokens)
    {
        Dataset data = DataFor(tokens);
        using Network network = ModelZoo.Create(arch, data, seed: 1);
        network.eval();
        using var noGrad = no_grad();
        Tensor full = network.forward(data.X);
        Assert.Equal([6L, data.ClassCount], full.shape);
        for (int k = 0; k <= network.Layers.Count; k++)
        {
            Tensor prefix = network.Forward(data.X, 0, k);
            Tensor rest = network.Forward(prefix, k, network.Layers.Count);
            Assert.True(rest.SameAs(full), $"{arch}: Forward(x,0,{k}) then Forward(·,{k},end) differs");
        }
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void TraceGivesEveryLayersInputAndOutput(string arch, bool tokens)
    {
        Dataset data = DataFor(tokens);
        using Network network = ModelZoo.Create(arch, data, seed: 1);
        network.eval();
        using var noGrad = no_grad();
        LayerTrace trace = network.Trace(data.X);
        Assert.Equal(network.Layers.Count + 1, trace.Activations.Count);
        IReadOnlyList<LayerSummary> summary = network.Summarize();
        for (int i = 0; i < network.Layers.Count; i++)
        {
            Assert.Same(trace.OutputOf(i), trace.InputOf(i + 1));
            Assert.Equal([6L, .. summary[i].OutputShape], trace.OutputOf(i).shape);
            Assert.True(network.Forward(trace.InputOf(i), i, i + 1).SameAs(trace.OutputOf(i)));
        }
    }

    [Theory]
    [InlineData("lstm:16", false)]
    [InlineData("gru:16", false)]
    [InlineData("lstm:16", true)]
    [InlineData("gru:16", true)]
    public void LastPerStepPredictionIsTheModelsPrediction(string arch, bool tokens)
    {
        Dataset data = DataFor(tokens);
        using Network network = ModelZoo.Create(arch, data, seed: 2);
        network.eval();
        using var noGrad = no_grad();
        RecurrentSteps steps = network.Steps(data.X);
        long t = tokens ? 12 : 28;
        Assert.Equal([6L, t, 16], steps.HiddenStates.shape);
        Assert.Equal([6L, t, data.ClassCount], steps.StepLogits.shape);
        Assert.True(steps.StepLogits.select(1, -1).allclose(network.forward(data.X), rtol: 0, atol: 1e-6));
        // Earlier steps differ from the last in general (the per-step head really sees each step).
        Assert.False(steps.StepLogits.select(1, 0).allclose(steps.StepLogits.select(1, -1)));
    }

    [Fact]
    public void LayerNamesAreStable()
    {
        Dataset data = TestSupport.RandomImages(2);
        using Network mlp = ModelZoo.Create("mlp:100x3", data, 0);
        Assert.Equal(["flatten", "fc1", "relu1", "fc2", "relu2", "fc3"], mlp.Layers.Select(l => l.Name));
        Assert.Equal(3, mlp.LayerIndex("fc2"));
        Assert.Equal(3, mlp.LayerIndex("3"));
        Assert.Equal(100, mlp.Layers[3].AsLinear!.weight!.shape[0]);
        using Network deep = ModelZoo.Create("mlp:200x9", data, 0);
        Assert.Equal(9, deep.Layers.Count(l => l.Spec is LinearSpec));
        Assert.Equal("fc7", deep.Layers[deep.LayerIndex("fc7")].Name);
        using Network cnn = ModelZoo.Create("cnn", data, 0);
        Assert.Equal(["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "flatten", "fc1", "relu3", "fc2"], cnn.Layers.Select(l => l.Name));
        using Network lstm = ModelZoo.Create("lstm:128", data, 0);
        Assert.Equal(["rows", "lstm", "head"], lstm.Layers.Select(l => l.Name));
        var e = Assert.Throws<ReparoInputException>(() => mlp.LayerIndex("fc9"));
        Assert.Contains("no layer 'fc9'", e.Message);
        Assert.Contains("fc1, relu1", e.Message);
    }

    [Fact]
    public void MlpHasThePublishedShapes()
    {
        using Network mlp = ModelZoo.Create("mlp:100x3", TestSupport.RandomImages(2), 0);
        Assert.Equal(784 * 100 + 100 + 100 * 100 + 100 + 100 * 10 + 10, mlp.ParameterCount);
    }

    [Fact]
    public void BadArchitecturesAreOneLineErrors()
    {
        Dataset images = TestSupport.RandomImages(2), tokens = TestSupport.RandomTokens(2);
        Assert.Contains("unknown architecture 'resnet50'", Assert.Throws<ReparoInputException>(() => ModelZoo.Create("resnet50", images, 0)).Message);
        Assert.Contains("resnet needs image sides divisible by 4", Assert.Throws<ReparoInputException>(() => ModelZoo.Create("resnet", TestSupport.RandomImages(2, size: 30), 0)).Message);
        Assert.Contains("needs token data", Assert.Throws<ReparoInputException>(() => ModelZoo.Create("text:8", images, 0)).Message);
        Assert.Contains("not token ids", Assert.Throws<ReparoInputException>(() => ModelZoo.Create("mlp:10x2", tokens, 0)).Message);
        Assert.Contains("needs images", Assert.Throws<ReparoInputException>(() => ModelZoo.Create("cnn", tokens, 0)).Message);
    }

    [Fact]
    public void SameSeedGivesSameInitialWeights()
    {
        Dataset data = TestSupport.RandomImages(2);
        using Network a = ModelZoo.Create("cnn", data, 5), b = ModelZoo.Create("cnn", data, 5), c = ModelZoo.Create("cnn", data, 6);
        Assert.True(a.Layers[0].AsConv2d!.weight!.SameAs(b.Layers[0].AsConv2d!.weight!));
        Assert.False(a.Layers[0].AsConv2d!.weight!.SameAs(c.Layers[0].AsConv2d!.weight!));
    }
}
