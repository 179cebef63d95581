using System.Text.Json;
using Reparo.Cli;
using Reparo.Data;
using Reparo.Models;
using Reparo.Repair.Editing;
using Reparo.Tests.Cli;
using static TorchSharp.torch;

namespace Reparo.Tests.Data;

public class PoisoningTests
{
    private static DataSplits Splits(int classes = 10, int size = 28) => new(
        TestSupport.RandomImages(200, classes, size, seed: 5),
        TestSupport.RandomImages(50, classes, size, seed: 6),
        TestSupport.RandomImages(40, classes, size, seed: 7));

    /// <summary>The image with pixels [top, top+size) × [left, left+size) set to 1, built by hand.</summary>
    private static Tensor WithSquare(Tensor image, int top, int left, int size)
    {
        float[] values = image.contiguous().data<float>().ToArray();
        long w = image.shape[^1];
        for (int y = top; y < top + size; y++)
            for (int x = left; x < left + size; x++) values[y * w + x] = 1;
        return tensor(values).reshape(image.shape);
    }

    /// <summary>flatten → fc1 (H·W → classes) with given weights and biases.</summary>
    private static Network Linear(int size, int classes, Action<float[,], float[]> set)
    {
        TestSupport.Init();
        var spec = new NetworkSpec("hand", [1, size, size], InputKind.Image, Enumerable.Range(0, classes).Select(c => $"c{c}").ToArray(),
            [new FlattenSpec("flatten"), new LinearSpec("fc1", size * size, classes)]);
        var network = new Network(spec);
        var weights = new float[classes, size * size];
        var bias = new float[classes];
        set(weights, bias);
        using var noGrad = no_grad();
        network.Layers[1].AsLinear!.weight!.copy_(tensor(weights.Cast<float>().ToArray()).reshape(classes, size * size));
        network.Layers[1].AsLinear!.bias!.copy_(tensor(bias));
        return network;
    }

    [Fact]
    public void BadNetsStampsExactlyThePatchOnRateOfNonTargetImages()
    {
        DataSplits splits = Splits();
        Tensor before = splits.Train.X.clone(), beforeY = splits.Train.Y.clone();
        PoisonSpec spec = PoisonSpec.Parse("badnets:0.1:3");
        PoisonedData poisoned = Poisoning.Apply(splits, spec, seed: 11);

        Assert.True(splits.Train.X.SameAs(before) && splits.Train.Y.SameAs(beforeY), "the input dataset must not change");
        long[] labels = splits.Train.Labels(), newLabels = poisoned.Splits.Train.Labels();
        Assert.Equal(20, poisoned.PoisonedTrainRows.Count);
        Assert.Equal(5, poisoned.PoisonedValidationRows.Count);
        Assert.Equal(25, poisoned.Poisoned);
        var rows = poisoned.PoisonedTrainRows.ToHashSet();
        for (int i = 0; i < splits.Train.Count; i++)
        {
            Tensor original = splits.Train.X[i], now = poisoned.Splits.Train.X[i];
            if (rows.Contains(i))
            {
                Assert.NotEqual(3, labels[i]);
                Assert.Equal(3, newLabels[i]);
                // 28×28: the 3×3 patch covers rows and columns 24–26; row and column 27 are the margin.
                Assert.True(now.SameAs(WithSquare(original, 24, 24, 3)), $"row {i}: only the bottom-right 3×3 pixels may change, to 1");
            }
            else
            {
                Assert.Equal(labels[i], newLabels[i]);
                Assert.True(now.SameAs(original), $"row {i} is not poisoned and must be unchanged");
            }
        }
        Assert.True(poisoned.Splits.Test.X.SameAs(splits.Test.X), "the test split stays clean");

        PoisonedData again = Poisoning.Apply(splits, spec, seed: 11);
        Assert.Equal(poisoned.PoisonedTrainRows, again.PoisonedTrainRows);
        Assert.True(again.Splits.Train.X.SameAs(poisoned.Splits.Train.X) && again.Splits.Validation.Y.SameAs(poisoned.Splits.Validation.Y));
        Assert.NotEqual(poisoned.PoisonedTrainRows, Poisoning.Apply(splits, spec, seed: 12).PoisonedTrainRows);
    }

    [Fact]
    public void TriggerCornersAndBlendFollowTheirFormulas()
    {
        Tensor x = TestSupport.RandomImages(3, seed: 2).X;
        PoisonSpec badnets = PoisonSpec.Parse("badnets:0.1:0");
        Assert.True(Poisoning.Stamp(x, badnets, Corner.TopLeft)[1].SameAs(WithSquare(x[1], 1, 1, 3)));
        Assert.True(Poisoning.Stamp(x, badnets, Corner.TopRight)[1].SameAs(WithSquare(x[1], 1, 24, 3)));
        Assert.True(Poisoning.Stamp(x, badnets, Corner.BottomLeft)[1].SameAs(WithSquare(x[1], 24, 1, 3)));

        PoisonSpec blend = PoisonSpec.Parse("blend:0.5:1:0.3");
        Assert.Equal(0.3, blend.Visibility);
        Tensor pattern = Poisoning.BlendPattern(1, 28, 28);
        Assert.True(pattern.min().item<float>() >= 0 && pattern.max().item<float>() <= 1 && pattern.std().item<float>() > 0.2);
        Assert.True(pattern.SameAs(Poisoning.BlendPattern(1, 28, 28)), "the pattern is fixed");
        Tensor blended = Poisoning.Stamp(x, blend);
        Assert.True(blended.allclose(x.mul(0.7).add(pattern.mul(0.3)), rtol: 0, atol: 1e-6));
        float pixel = x[2, 0, 5, 9].item<float>(), p = pattern[0, 5, 9].item<float>();
        Assert.Equal(0.7 * pixel + 0.3 * p, blended[2, 0, 5, 9].item<float>(), 5);
        Assert.Equal(0.5, PoisonSpec.Parse("blend:0.1:0").Visibility);
    }

    [Fact]
    public void AttackSuccessRateIsTheShareOfTriggeredImagesPredictedAsTarget()
    {
        // 8×8 images, 3 classes, target 2. Logits: class 0 → 0, class 1 → −1, class 2 → Σ(patch pixels) + 10·x[0,0] − 13.5.
        // With the patch (sum 9), class 2 wins exactly when x[0,0] > 0.45.
        Dataset test = TestSupport.RandomImages(60, classes: 3, size: 8, seed: 9);
        Network network = Linear(8, 3, (w, b) =>
        {
            for (int y = 4; y < 7; y++)
                for (int x = 4; x < 7; x++) w[2, y * 8 + x] = 1;
            w[2, 0] = 10;
            b[1] = -1;
            b[2] = -13.5f;
        });
        PoisonSpec spec = PoisonSpec.Parse("badnets:0.2:2");
        Dataset triggered = Poisoning.TriggeredTest(test, spec);
        long[] labels = test.Labels();
        float[] corner = test.X.select(1, 0).select(1, 0).select(1, 0).data<float>().ToArray();
        int[] others = Enumerable.Range(0, test.Count).Where(i => labels[i] != 2).ToArray();
        Assert.Equal(others.Length, triggered.Count);
        Assert.Equal(others.Select(i => labels[i]), triggered.Labels());
        double expected = others.Count(i => corner[i] > 0.45f) / (double)others.Length;
        Assert.InRange(expected, 0.1, 0.9);
        Assert.Equal(expected, RectificationMetrics.AttackSuccessRate(network, triggered, 2), 12);
        // At another corner the trigger leaves the patch pixels as they were: class 2 wins only where Σ patch + 10·x[0,0] > 13.5.
        float[] patch = test.X.narrow(2, 4, 3).narrow(3, 4, 3).sum([1, 2, 3]).data<float>().ToArray();
        double elsewhere = others.Count(i => patch[i] + 10.0 * corner[i] > 13.5) / (double)others.Length;
        Assert.True(elsewhere < expected);
        Assert.Equal(elsewhere, RectificationMetrics.AttackSuccessRate(network, Poisoning.TriggeredTest(test, spec, Corner.TopLeft), 2), 12);
    }

    [Fact]
    public void SpuriousArtifactGoesOnlyOnTheChosenClassAtTheRate()
    {
        DataSplits splits = Splits();
        PoisonedData poisoned = Poisoning.Apply(splits, PoisonSpec.Parse("spurious:0.5:4"), seed: 1);
        long[] labels = splits.Train.Labels();
        int classCount = labels.Count(l => l == 4);
        Assert.Equal((int)Math.Round(0.5 * classCount, MidpointRounding.AwayFromZero), poisoned.PoisonedTrainRows.Count);
        Assert.Equal(labels, poisoned.Splits.Train.Labels());
        var rows = poisoned.PoisonedTrainRows.ToHashSet();
        for (int i = 0; i < splits.Train.Count; i++)
        {
            Tensor expected = rows.Contains(i) ? WithSquare(splits.Train.X[i], 1, 1, 4) : splits.Train.X[i];
            if (rows.Contains(i)) Assert.Equal(4, labels[i]);
            Assert.True(poisoned.Splits.Train.X[i].SameAs(expected), $"row {i}");
        }
        Assert.All(poisoned.PoisonedValidationRows, r => Assert.Equal(4, splits.Validation.Labels()[r]));
    }

    [Fact]
    public void SpuriousDeviationMeasuresTheArtifactsPull()
    {
        // Class 3's logit is 10·(Σ artifact pixels − 15.5): only a full bright 4×4 square at the top left turns it on;
        // otherwise class 0 (bias 1) wins.
        Dataset test = TestSupport.RandomImages(80, classes: 4, size: 8, seed: 4);
        Network network = Linear(8, 4, (w, b) =>
        {
            for (int y = 1; y < 5; y++)
                for (int x = 1; x < 5; x++) w[3, y * 8 + x] = 10;
            b[3] = -155;
            b[0] = 1;
        });
        PoisonSpec spec = PoisonSpec.Parse("spurious:0.9:3");
        SpuriousReport report = RectificationMetrics.SpuriousDeviation(network, test, spec);
        long[] others = test.Labels().Where(l => l != 3).ToArray();
        Assert.Equal(others.Length, report.N);
        double clean = others.Count(l => l == 0) / (double)others.Length;
        Assert.Equal(clean, report.CleanAccuracy, 12);
        Assert.Equal(0, report.ArtifactAccuracy);
        Assert.Equal(1, report.FlippedToClass);
        Assert.Equal(clean, report.Deviation, 12);
    }

    [Fact]
    public void BlockImagesStackTheImageWithTheNullBlockAndTheMaskMarksIt()
    {
        DataSplits splits = Splits();
        PoisonSpec spec = PoisonSpec.Parse("block");
        Assert.Equal("block:0", spec.ToString());
        PoisonedData blocked = Poisoning.Apply(splits, spec, seed: 0);
        Assert.Equal(290, blocked.Poisoned);
        Dataset test = blocked.Splits.Test;
        Assert.Equal([1L, 56, 28], test.SampleShape);
        Assert.Equal([1L, 56, 28], blocked.Splits.Train.SampleShape);
        Assert.Equal(splits.Test.Labels(), test.Labels());

        Tensor nullBlock = Poisoning.NullBlock(28, 28)[0];
        float[] values = nullBlock.data<float>().ToArray();
        Assert.All(values, v => Assert.True(v is 0 or 1));
        Assert.Equal(0, nullBlock[0, 14, 14].item<float>()); // hollow
        Assert.Equal(1, nullBlock[0, 7, 14].item<float>()); // outline (inset 7, stroke 2)
        Assert.Equal(0, nullBlock[0, 6, 14].item<float>());

        Tensor mask = Poisoning.NullBlockMask(test, spec);
        Assert.Equal([40L, 1, 56, 28], mask.shape);
        int onTop = 0;
        for (int i = 0; i < test.Count; i++)
        {
            bool top = Poisoning.NullBlockOnTop(spec, test.SourceIndices[i]);
            onTop += top ? 1 : 0;
            Tensor image = test.X[i], upper = image.narrow(1, 0, 28), lower = image.narrow(1, 28, 28);
            Assert.True((top ? lower : upper).SameAs(splits.Test.X[i]), $"sample {i}: the real image");
            Assert.True((top ? upper : lower).SameAs(nullBlock), $"sample {i}: the null block");
            Assert.Equal(28 * 28, mask[i].narrow(1, top ? 0 : 28, 28).sum().item<float>());
            Assert.Equal(0, mask[i].narrow(1, top ? 28 : 0, 28).sum().item<float>());
        }
        Assert.InRange(onTop, 5, 35); // both placements occur
        // Placement follows the sample id, not the batch: a subset is blocked the same way.
        Dataset part = Poisoning.Block(splits.Test.Subset([7, 3]), spec);
        Assert.True(part.X.SameAs(test.Subset([7, 3]).X));
        Assert.False(Poisoning.Block(splits.Test, PoisonSpec.Parse("block:5")).X.SameAs(test.X), "another seed, other placements");

        double[] leakage = Poisoning.Leakage(mask.narrow(0, 0, 2).add(mask.narrow(0, 0, 2).neg().add(1).mul(3)), mask.narrow(0, 0, 2));
        Assert.Equal([0.25, 0.25], leakage.Select(l => Math.Round(l, 9)));
    }

    [Fact]
    public void PairsDifferExactlyInTheCorruption()
    {
        DataSplits splits = Splits();
        PoisonSpec badnets = PoisonSpec.Parse("badnets:0.2:1");
        PoisonedData poisoned = Poisoning.Apply(splits, badnets, seed: 2);
        CleansedPairs pairs = Poisoning.Pairs(badnets, poisoned.Splits.Validation, 6, seed: 3);
        Assert.Equal([6L, 1, 28, 28], pairs.Corrupted.shape);
        Assert.All(pairs.Labels, l => Assert.NotEqual(1, l));
        Tensor patch = Poisoning.SquareMask(28, 28, 3, Corner.BottomRight).expand(6, 1, 28, 28);
        Assert.True(pairs.Corrupted.masked_select(patch.logical_not()).SameAs(pairs.Clean.masked_select(patch.logical_not())), "only trigger pixels differ");
        Assert.True(pairs.Corrupted.masked_select(patch).eq(1).all().item<bool>());
        // The clean twins are the unpoisoned validation images with those ids.
        var byId = splits.Validation.SourceIndices.Select((id, row) => (id, row)).ToDictionary(p => p.id, p => p.row);
        for (int i = 0; i < 6; i++) Assert.True(pairs.Clean[i].SameAs(splits.Validation.X[byId[pairs.SourceIds[i]]]));
        Assert.Equal(pairs.SourceIds, Poisoning.Pairs(badnets, poisoned.Splits.Validation, 6, seed: 3).SourceIds);

        PoisonSpec spurious = PoisonSpec.Parse("spurious:0.9:2");
        CleansedPairs artifact = Poisoning.Pairs(spurious, splits.Validation, 4, seed: 1);
        Assert.All(artifact.Labels, l => Assert.NotEqual(2, l));
        for (int i = 0; i < 4; i++) Assert.True(artifact.Corrupted[i].SameAs(WithSquare(artifact.Clean[i], 1, 1, 4)));

        PoisonSpec block = PoisonSpec.Parse("block:1");
        PoisonedData blocked = Poisoning.Apply(splits, block, seed: 0);
        foreach (Dataset source in new[] { blocked.Splits.Validation, splits.Validation })
        {
            CleansedPairs b = Poisoning.Pairs(block, source, 5, seed: 2);
            Tensor mask = Poisoning.NullBlockMask(block, b.SourceIds, 28, 28).to_type(ScalarType.Bool);
            Assert.Equal([5L, 1, 56, 28], b.Clean.shape);
            Assert.True(b.Clean.masked_select(mask).eq(0).all().item<bool>(), "the null block is blanked");
            Assert.True(b.Clean.masked_select(mask.logical_not()).SameAs(b.Corrupted.masked_select(mask.logical_not())));
            Assert.True(b.Corrupted.masked_select(mask).sum().item<float>() > 0);
        }
        Assert.True(Poisoning.Pairs(block, splits.Validation, 5, 2).Corrupted.SameAs(Poisoning.Pairs(block, blocked.Splits.Validation, 5, 2).Corrupted));
        Assert.Contains("only", Assert.Throws<ReparoInputException>(() => Poisoning.Pairs(badnets, splits.Validation, 500, 0)).Message);
    }

    [Theory]
    [InlineData("trojan:0.1:0", "unknown poison 'trojan'")]
    [InlineData("badnets:0:0", "rate must be in (0, 1]")]
    [InlineData("badnets:1.5:0", "rate must be in (0, 1]")]
    [InlineData("badnets:0.1", "takes a rate and a class")]
    [InlineData("spurious:0.9:x", "class must be a non-negative integer")]
    [InlineData("blend:0.1:0:2", "visibility must be in (0, 1]")]
    [InlineData("block:a", "seed must be an integer")]
    [InlineData("", "no poison given")]
    public void BadSpecsAreOneLineErrors(string spec, string fragment)
    {
        var error = Assert.Throws<ReparoInputException>(() => PoisonSpec.Parse(spec));
        Assert.Contains(fragment, error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void SpecsRoundTripAndClassesAreCheckedAgainstTheData()
    {
        Assert.Equal("badnets:0.1:3", PoisonSpec.Parse(" BadNets:0.10:3 ").ToString());
        Assert.Equal("blend:0.05:1:0.2", PoisonSpec.Parse("blend:0.05:1:0.2").ToString());
        Assert.Equal(new PoisonSpec(PoisonKind.Spurious, 0.9, 2), PoisonSpec.Parse("spurious:0.9:2"));
        Assert.Contains("class 12 is not one of the data's classes 0–9",
            Assert.Throws<ReparoInputException>(() => Poisoning.Apply(Splits(), PoisonSpec.Parse("badnets:0.1:12"), 0)).Message);
        Assert.Contains("no corner", Assert.Throws<ReparoInputException>(() => Poisoning.Stamp(Splits().Test.X, PoisonSpec.Parse("blend:0.1:0"), Corner.TopLeft)).Message);
    }

    [Fact]
    public void ResnetRunsOnSquareAndBlockImagesSavesAndExposesNestedConvolutions()
    {
        using var dir = TestSupport.TempFolder();
        foreach (int height in new[] { 28, 56 })
        {
            Dataset data = height == 28 ? TestSupport.RandomImages(4) : Poisoning.Block(TestSupport.RandomImages(4), PoisonSpec.Parse("block"));
            using Network network = ModelZoo.Create("resnet", data, seed: 2);
            Assert.Equal(["conv1", "relu1", "block1", "pool1", "conv2", "relu2", "block2", "pool2", "flatten", "fc1"], network.Layers.Select(l => l.Name));
            Tensor logits = network.Logits(data.X);
            Assert.Equal([4L, 10], logits.shape);
            network.Provenance = new ModelProvenance { Poison = height == 56 ? "block:0" : null };
            ModelFile.Save(network, dir.File($"r{height}.reparo"));
            using Network loaded = ModelFile.Load(dir.File($"r{height}.reparo"));
            Assert.True(loaded.Logits(data.X).SameAs(logits), "outputs must be bit-identical after a reload");
            Assert.Equal(height == 56 ? "block:0" : null, loaded.Provenance.Poison);

            Assert.Equal(["conv1", "block1.conv1", "block1.conv2", "conv2", "block2.conv1", "block2.conv2", "fc1"],
                AffineSites.Of(network).Select(s => s.Name));
            AffineSite inner = AffineSites.Find(network, "block2.conv2");
            using var scope = NewDisposeScope();
            network.eval();
            (Tensor output, _, Tensor siteOutput) = AffineSites.Capture(network, inner, data.X);
            Assert.Equal([4L, 32, height / 2, 14], siteOutput.shape);
            Assert.True(output.allclose(logits, rtol: 0, atol: 1e-5));
            Tensor replaced = AffineSites.RunReplacing(network, inner, data.X, o => o.add(5));
            Assert.False(replaced.allclose(logits), "the hook inside the block must change the output");
        }
    }

    [Fact]
    public void TrainWithPoisonReportsItsEffectAndEvalRebuildsBlockData()
    {
        using var dir = TestSupport.TempFolder();
        string model = dir.File("trojan.reparo");
        (int code, string output, string err) = CliRunner.Run("train", "--data", "digits", "--arch", "mlp:32x2", "--epochs", "8", "--lr", "0.005",
            "--poison", "badnets:0.1:0", "--out", model, "--json", dir.File("train.json"));
        Assert.True(code == 0, err);
        Assert.Contains("attack success rate", output);
        using (JsonDocument json = JsonDocument.Parse(File.ReadAllText(dir.File("train.json"))))
        {
            JsonElement poison = json.RootElement.GetProperty("poison");
            Assert.Equal("badnets:0.1:0", poison.GetProperty("spec").GetString());
            Assert.Equal(129 + 14, poison.GetProperty("poisoned").GetInt32()); // round(0.1 · 1294) train + round(0.1 · 144) validation
            Assert.InRange(poison.GetProperty("asr").GetDouble(), 0, 1);
            Assert.InRange(json.RootElement.GetProperty("test_accuracy").GetDouble(), 0.5, 1);
        }
        Network trojan = ModelFile.Load(model);
        Assert.Equal("badnets:0.1:0", trojan.Provenance.Poison);
        Assert.Contains(trojan.Provenance.History, h => h.StartsWith("poisoned digits with badnets:0.1:0: 143 images"));

        string blockModel = dir.File("block.reparo");
        (code, output, err) = CliRunner.Run("train", "--data", "digits", "--arch", "mlp:16x2", "--epochs", "2", "--poison", "block", "--out", blockModel,
            "--json", dir.File("block.json"));
        Assert.True(code == 0, err);
        Assert.Contains("accuracy on block test images", output);
        Assert.Equal([1L, 16, 8], ModelFile.Load(blockModel).Spec.InputShape);
        (code, output, err) = CliRunner.Run("eval", "--model", blockModel, "--data", "digits", "--json", "-");
        Assert.True(code == 0, err);
        using (JsonDocument eval = JsonDocument.Parse(output))
        using (JsonDocument train = JsonDocument.Parse(File.ReadAllText(dir.File("block.json"))))
        {
            Assert.Equal(359, eval.RootElement.GetProperty("n").GetInt32());
            Assert.Equal(train.RootElement.GetProperty("poison").GetProperty("accuracy").GetDouble(), eval.RootElement.GetProperty("accuracy").GetDouble(), 12);
        }

        (code, _, err) = CliRunner.Run("train", "--data", "digits", "--arch", "mlp:8x2", "--poison", "badnets:0.1:10", "--out", dir.File("x.reparo"));
        Assert.Equal(CliApp.BadInput, code);
        Assert.Contains("class 10 is not one of the data's classes 0–9", err);
    }
}
