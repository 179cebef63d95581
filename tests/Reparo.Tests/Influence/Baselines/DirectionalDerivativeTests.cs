using Reparo.Data;
using Reparo.Influence.Baselines;
using Reparo.Models;
using static TorchSharp.torch;

namespace Reparo.Tests.Influence.Baselines;

public sealed class DirectionalDerivativeTests
{
    [Fact]
    public void BatchedDirectionalDerivativesEqualThePerSampleLoop()
    {
        TestSupport.Init();
        Dataset data = TestSupport.RandomImages(10, classes: 3, size: 6, seed: 5);
        using Network network = ModelZoo.Create("lstm:8", data, seed: 2);
        network.eval();
        TorchSharp.Modules.Parameter[] parameters = InfluenceCore.ParametersOf(network, GradientScope.AllParameters, "test");
        long size = parameters.Sum(p => p.numel());
        using Tensor direction = randn(size, dtype: ScalarType.Float64, generator: new TorchSharp.torch.Generator(7));
        var loop = new double[data.Count];
        InfluenceCore.PerSampleGradients(network, parameters, data.X, data.Y, (k, g) => loop[k] = g.dot(direction).item<double>(), "gradients", null, default);
        double[] batched = InfluenceCore.DirectionalDerivatives(network, parameters, data.X, data.Y, direction, batchSize: 4, "gradients", null, default);
        for (int k = 0; k < loop.Length; k++) Assert.True(Math.Abs(loop[k] - batched[k]) <= 1e-4 * (1 + Math.Abs(loop[k])), $"sample {k}: {loop[k]} vs {batched[k]}");
    }
}
