using Reparo.Data;
using Reparo.Models;
using Reparo.Repair.Editing;
using static TorchSharp.torch;

namespace Reparo.Tests.Repair;

public sealed class RankOneEditTests
{
    private static (Network Network, Dataset Data, Tensor Corrupted, Tensor Clean, long[] Labels) Setup(string arch, int pairs = 1)
    {
        Dataset data = TestSupport.RandomImages(64, seed: 5);
        Network network = ModelZoo.Create(arch, data, seed: 2);
        Tensor clean = data.X.narrow(0, 0, pairs).clone();
        Tensor corrupted = clean.clone();
        corrupted[TensorIndex.Colon, TensorIndex.Colon, TensorIndex.Slice(24, 27), TensorIndex.Slice(24, 27)] = tensor(1f);
        return (network, data, corrupted, clean, data.Labels().Take(pairs).ToArray());
    }

    private static Tensor SiteValues(Network network, AffineSite site, Tensor x)
    {
        using var noGrad = no_grad();
        (_, Tensor input, Tensor output) = AffineSites.Capture(network, site, x);
        input.Dispose();
        return LayerKeys.Values(site, output);
    }

    [Fact]
    public void ClosedFormEditMapsTheCorruptedKeyToTheCleanValue()
    {
        (Network network, Dataset data, Tensor corrupted, Tensor clean, long[] labels) = Setup("mlp:32x3");
        AffineSite fc2 = AffineSites.Find(network, "fc2");
        using var statistics = new KeyStatistics(network, data.X);
        Tensor before = SiteValues(network, fc2, corrupted);
        Tensor target = SiteValues(network, fc2, clean);
        Assert.True(before.sub(target).abs().max().item<double>() > 1e-3, "the trigger must change the layer's value for the test to mean anything");
        LayerEdit edit = RankOneEdit.Compute(network, fc2, corrupted, clean, labels, statistics.SecondMoment(fc2, KeyKind.Auto), new EditOptions(Solver: EditSolver.ClosedForm));
        edit.Apply();
        Tensor after = SiteValues(network, fc2, corrupted);
        Assert.Equal(EditSolver.ClosedForm, edit.Solver);
        Assert.True(after.sub(target).abs().max().item<double>() < 1e-4, $"W'k* = v* violated by {after.sub(target).abs().max().item<double>()}");
        // Rank one: the change is an outer product.
        Tensor s = linalg.svdvals(edit.Delta);
        Assert.True(s[1].item<double>() < 1e-9 * s[0].item<double>());
    }

    [Fact]
    public void AKeyCInverseOrthogonalToTheEditedKeyIsMappedAsBefore()
    {
        (Network network, Dataset data, Tensor corrupted, Tensor clean, long[] labels) = Setup("mlp:32x3");
        AffineSite fc2 = AffineSites.Find(network, "fc2");
        using var statistics = new KeyStatistics(network, data.X);
        Tensor c = statistics.SecondMoment(fc2, KeyKind.Vector);
        Tensor kStar;
        using (no_grad())
        {
            (_, Tensor input, Tensor output) = AffineSites.Capture(network, fc2, corrupted);
            output.Dispose();
            kStar = LayerKeys.Keys(fc2, KeyKind.Vector, input)[0];
        }
        Tensor u = linalg.solve(c, kStar);
        Tensor k = randn(kStar.shape[0], dtype: ScalarType.Float64, generator: new Generator(7));
        Tensor orthogonal = k.sub(kStar.mul(k.dot(u).div(kStar.dot(u))));
        Assert.True(Math.Abs(orthogonal.dot(u).item<double>()) < 1e-9);
        Tensor w = LayerKeys.Matrix(fc2, KeyKind.Vector);
        LayerEdit edit = RankOneEdit.Compute(network, fc2, corrupted, clean, labels, c, new EditOptions());
        edit.Apply();
        Tensor moved = LayerKeys.Matrix(fc2, KeyKind.Vector);
        Assert.True(moved.matmul(orthogonal).sub(w.matmul(orthogonal)).abs().max().item<double>() < 1e-4);
        Assert.True(moved.matmul(kStar).sub(w.matmul(kStar)).abs().max().item<double>() > 1e-3, "the edited key itself must move");
    }

    [Fact]
    public void RollbackRestoresTheExactWeights()
    {
        (Network network, Dataset data, Tensor corrupted, Tensor clean, long[] labels) = Setup("cnn", pairs: 2);
        AffineSite conv2 = AffineSites.Find(network, "conv2");
        Tensor original = conv2.Weight.detach().clone();
        using var statistics = new KeyStatistics(network, data.X);
        LayerEdit edit = RankOneEdit.Compute(network, conv2, corrupted, clean, labels, statistics.SecondMoment(conv2, KeyKind.Patch), new EditOptions());
        edit.Apply();
        Assert.False(conv2.Weight.SameAs(original));
        edit.Rollback();
        Assert.True(conv2.Weight.SameAs(original));
    }

    [Fact]
    public void ConvolutionEditsMapChangedPositionsAndLeastSquaresPreservesTheRest()
    {
        (Network network, Dataset data, Tensor corrupted, Tensor clean, long[] labels) = Setup("cnn");
        AffineSite conv2 = AffineSites.Find(network, "conv2");
        using var statistics = new KeyStatistics(network, data.X);
        Tensor before = SiteValues(network, conv2, corrupted);
        Tensor target = SiteValues(network, conv2, clean);
        Tensor changed = before.sub(target).norm(1, keepdim: false).gt(1e-9);
        LayerEdit exact = RankOneEdit.Compute(network, conv2, corrupted, clean, labels, statistics.SecondMoment(conv2, KeyKind.Patch), new EditOptions(Solver: EditSolver.ClosedForm));
        Assert.Equal((int)changed.sum().item<long>(), exact.ChangedKeys);
        exact.Apply();
        Tensor after = SiteValues(network, conv2, corrupted);
        Tensor rows = changed.nonzero().flatten();
        Assert.True(after.index_select(0, rows).sub(target.index_select(0, rows)).abs().max().item<double>() < 1e-3, "every changed position must reach the clean value");
        double exactResidual = after.sub(target).norm().item<double>();
        exact.Rollback();

        // With a vanishing penalty, least squares fits every position (changed or not) at least as well as the exact edit of the changed ones.
        LayerEdit leastSquares = RankOneEdit.Compute(network, conv2, corrupted, clean, labels, statistics.SecondMoment(conv2, KeyKind.Patch), new EditOptions(Solver: EditSolver.LeastSquares, LeastSquaresWeight: 1e-9));
        leastSquares.Apply();
        Tensor fitted = SiteValues(network, conv2, corrupted);
        double residualBefore = before.sub(target).norm().item<double>(), residualAfter = fitted.sub(target).norm().item<double>();
        Assert.True(residualAfter < 0.5 * residualBefore, $"least squares left {residualAfter} of {residualBefore}");
        Assert.True(residualAfter <= exactResidual * 1.001, $"least squares {residualAfter} vs exact {exactResidual}");
    }

    [Fact]
    public void ChannelKeysEditOnlyTheCentreTap()
    {
        (Network network, Dataset data, Tensor corrupted, Tensor clean, long[] labels) = Setup("cnn");
        AffineSite conv2 = AffineSites.Find(network, "conv2");
        Tensor original = conv2.Weight.detach().clone();
        using var statistics = new KeyStatistics(network, data.X);
        LayerEdit edit = RankOneEdit.Compute(network, conv2, corrupted, clean, labels, statistics.SecondMoment(conv2, KeyKind.Channel), new EditOptions(Keys: KeyKind.Channel, Solver: EditSolver.LeastSquares));
        edit.Apply();
        Tensor changedTaps = conv2.Weight.detach().ne(original).any(0).any(0);
        Assert.True(changedTaps[1, 1].item<bool>());
        Assert.Equal(1, changedTaps.sum().item<long>());
        Assert.Throws<ReparoInputException>(() => LayerKeys.Resolve(conv2, KeyKind.Vector));
    }

    [Fact]
    public void IterativeEditFixesThePairs()
    {
        (Network network, Dataset data, Tensor corrupted, Tensor clean, long[] labels) = Setup("mlp:32x3", pairs: 3);
        AffineSite fc2 = AffineSites.Find(network, "fc2");
        using var statistics = new KeyStatistics(network, data.X);
        long[] wanted = [.. labels.Select(l => (l + 1) % 10)];
        LayerEdit edit = RankOneEdit.Compute(network, fc2, corrupted, clean, wanted, statistics.SecondMoment(fc2, KeyKind.Vector),
            new EditOptions(Solver: EditSolver.Iterative, IterativeSteps: 300, IterativeLearningRate: 0.05));
        edit.Apply();
        Assert.Equal(wanted, network.Predict(corrupted));
    }

    [Fact]
    public void SecondMomentIsTheMeanOuterProductPlusRidgeAndIsCachedUntilAnEarlierLayerChanges()
    {
        (Network network, Dataset data, _, _, _) = Setup("cnn");
        AffineSite conv2 = AffineSites.Find(network, "conv2"), fc1 = AffineSites.Find(network, "fc1");
        using var statistics = new KeyStatistics(network, data.X, ridge: 0.5, batchSize: 7);
        Tensor keys;
        using (no_grad())
        {
            (_, Tensor input, Tensor output) = AffineSites.Capture(network, conv2, data.X);
            keys = LayerKeys.Keys(conv2, KeyKind.Patch, input);
        }
        Tensor moment = keys.t().matmul(keys).div(keys.shape[0]);
        Tensor expected = moment.add(eye(moment.shape[0], dtype: ScalarType.Float64).mul(0.5 * moment.trace().item<double>() / moment.shape[0]));
        Tensor c = statistics.SecondMoment(conv2, KeyKind.Patch);
        // (float32 forward passes in batches of 7 and of 64 may round differently, hence the tolerance)
        Assert.True(c.allclose(expected, rtol: 1e-5, atol: 1e-9));
        Assert.Same(c, statistics.SecondMoment(conv2, KeyKind.Auto));
        Tensor cFc1 = statistics.SecondMoment(fc1, KeyKind.Vector);
        statistics.Invalidate(conv2, AffineSites.Of(network));
        Assert.Same(c, statistics.SecondMoment(conv2, KeyKind.Patch));
        Assert.NotSame(cFc1, statistics.SecondMoment(fc1, KeyKind.Vector));
    }
}
