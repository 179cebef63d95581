using Reparo.Data;
using Reparo.Models;
using Reparo.Repair.Editing;
using Reparo.Training;
using static TorchSharp.torch;

namespace Reparo.Tests.Repair;

public sealed class RectifierTests
{
    /// <summary>The inputs with a white 3×3 patch at rows and columns 24–26 (a trigger for 28×28 images).</summary>
    internal static Tensor Stamp(Tensor x)
    {
        Tensor y = x.clone();
        y[TensorIndex.Colon, TensorIndex.Colon, TensorIndex.Slice(24, 27), TensorIndex.Slice(24, 27)] = tensor(1f);
        return y;
    }

    /// <summary>The layer's outputs for <paramref name="x"/> as value rows (<see cref="LayerKeys.Values"/>).</summary>
    private static Tensor LayerValues(Network network, AffineSite site, Tensor x)
    {
        using var noGrad = no_grad();
        (_, _, Tensor output) = AffineSites.Capture(network, site, x);
        return LayerKeys.Values(site, output);
    }

    /// <summary>
    /// An untrained mlp:32x3 on random images, and a "pair" whose corrupted input is the first image and whose clean twin
    /// is the first other image the model puts in another class (labelled with that class).
    /// </summary>
    private static (Dataset Data, Network Network, Tensor Corrupted, Tensor Clean, long Label) PairAcrossClasses(int dataSeed, int modelSeed)
    {
        Dataset data = TestSupport.RandomImages(64, seed: dataSeed);
        Network network = ModelZoo.Create("mlp:32x3", data, seed: modelSeed);
        long[] predicted = network.Predict(data.X);
        int other = Enumerable.Range(1, 63).First(i => predicted[i] != predicted[0]);
        return (data, network, data.X.narrow(0, 0, 1), data.X.narrow(0, other, 1), predicted[other]);
    }

    [Fact]
    public void WeightAttributionOfAnExactEditSumsToTheLayerAttribution()
    {
        Dataset data = TestSupport.RandomImages(64, seed: 9);
        Network network = ModelZoo.Create("mlp:32x3", data, seed: 4);
        AffineSite fc2 = AffineSites.Find(network, "fc2");
        Tensor clean = data.X.narrow(0, 0, 1), corrupted = Stamp(clean);
        long[] labels = [data.Labels()[0]];
        using var statistics = new KeyStatistics(network, data.X);
        LayerEdit edit = RankOneEdit.Compute(network, fc2, corrupted, clean, labels, statistics.SecondMoment(fc2, KeyKind.Vector), new EditOptions());
        (Tensor e, double attributionSum) = Editability.WeightAttribution(network, fc2, KeyKind.Vector, edit.Delta, corrupted, clean, labels, steps: 64);
        double total = e.sum().item<double>();
        Assert.True(Math.Abs(total - attributionSum) < 1e-4 * Math.Max(1, Math.Abs(attributionSum)), $"ΣE = {total}, Σ layer IG = {attributionSum}");
        // By completeness both are the target logit's change from the corrupted input to the clean one.
        float change = network.Logits(clean)[0, labels[0]].item<float>() - network.Logits(corrupted)[0, labels[0]].item<float>();
        Assert.True(Math.Abs(attributionSum - change) < 0.05 * Math.Abs(change) + 1e-4, $"Σ layer IG = {attributionSum}, logit change {change}");
    }

    [Fact]
    public void AnEditOverTheBudgetIsRolledBackToTheExactWeights()
    {
        (Dataset data, Network network, Tensor corrupted, Tensor clean, long label) = PairAcrossClasses(11, 6);
        // Held-out: the first image labelled with the model's own prediction (accuracy 100 %). The "clean twin" is an
        // image the model puts in another class, so mapping the first image onto it must cost that accuracy.
        Dataset heldOut = data.Subset([0]).WithLabels(tensor(new[] { network.Predict(corrupted)[0] }), "held-out");
        var options = new RectifyOptions(RectifyMode.Dynamic, Layer: "fc3", Budget: 0.01, Gap: 0);
        RectificationResult result = Rectifier.Rectify(network, corrupted, clean, [label], heldOut, data.X, options);
        Assert.Single(result.Rounds);
        Assert.False(result.Rounds[0].Kept);
        Assert.Equal(1.0, result.Rounds[0].Degradation);
        Assert.Empty(result.Layers);
        foreach ((string name, Tensor value) in network.state_dict())
            Assert.True(result.Network.state_dict()[name].SameAs(value), $"{name} not restored exactly");

        // Trying the next layer after each rollback visits every layer once, then stops with the weights intact.
        RectificationResult next = Rectifier.Rectify(network, corrupted, clean, [label], heldOut, data.X, options with { Layer = "auto", NextOnRollback = true });
        Assert.Equal(["fc1", "fc2", "fc3"], next.Rounds.Select(r => r.Layer).Order());
        Assert.All(next.Rounds, r => Assert.False(r.Kept));
        Assert.Equal("every candidate layer was rolled back", next.StopReason);
        foreach ((string name, Tensor value) in network.state_dict())
            Assert.True(next.Network.state_dict()[name].SameAs(value), $"{name} not restored exactly");
    }

    [Fact]
    public void ARoundThatClosesTooLittleOfTheGapIsRolledBackAndTheNextLayerTried()
    {
        (Dataset data, Network network, Tensor corrupted, Tensor clean, long label) = PairAcrossClasses(13, 7);
        var options = new RectifyOptions(RectifyMode.Dynamic, Budget: 1, Gap: 0, MaxRounds: 2, NextOnRollback: true);
        RectificationRound first = Rectifier.Rectify(network, corrupted, clean, [label], data, data.X, options with { MaxRounds = 1 }).Rounds.Single();
        double share = (first.GapBefore - first.GapAfter) / first.GapBefore;
        Assert.True(first.Kept && share is > 0 and < 1, $"the first round closes part of the gap (else this test shows nothing): {share}");

        // Asking for slightly more than that share rolls the round back to the exact weights and moves to another layer.
        RectificationResult result = Rectifier.Rectify(network, corrupted, clean, [label], data, data.X, options with { MaxRounds = 1, MinGapClosed = Math.Min(1, share + 1e-6) });
        Assert.Equal(first.Layer, result.Rounds[0].Layer);
        Assert.False(result.Rounds[0].Kept);
        Assert.True(result.Rounds.Count >= 2);
        Assert.NotEqual(first.Layer, result.Rounds[1].Layer);
        RectificationResult rolledBack = Rectifier.Rectify(network, corrupted, clean, [label], data, data.X, options with { NextOnRollback = false, MinGapClosed = Math.Min(1, share + 1e-6) });
        Assert.Single(rolledBack.Rounds);
        Assert.Contains("of the gap above δ", rolledBack.StopReason);
        foreach ((string name, Tensor value) in network.state_dict())
            Assert.True(rolledBack.Network.state_dict()[name].SameAs(value), $"{name} not restored exactly");
    }

    [Fact]
    public void StaticModeEditsTheLastFeatureLayerOnce()
    {
        Dataset data = TestSupport.RandomImages(64, seed: 12);
        Network network = ModelZoo.Create("cnn", data, seed: 2);
        Assert.Equal("fc1", Rectifier.LastFeatureLayer(AffineSites.Of(network)).Name);
        Tensor clean = data.X.narrow(0, 0, 2), corrupted = Stamp(clean);
        RectificationResult result = Rectifier.Rectify(network, corrupted, clean, data.Labels().Take(2).ToArray(), data, data.X, new RectifyOptions(RectifyMode.Static));
        Assert.Equal(["fc1"], result.Layers);
        Assert.True(result.GapAfter < 1e-3, $"an exact edit at the last feature layer closes the pairs' gap, got {result.GapAfter}");
        Assert.False(network.state_dict()["fc1.weight"].SameAs(result.Network.state_dict()["fc1.weight"]));
    }

    /// <summary>An mlp:64x3 with a BadNets Trojan (target 0) trained on sklearn's digits, and the clean splits.</summary>
    private static (Network Network, DataSplits Clean, PoisonSpec Spec) DigitsTrojan()
    {
        TestSupport.Init();
        DataSplits splits = DataCatalog.Load("digits", new DataOptions());
        PoisonSpec spec = PoisonSpec.Parse("badnets:0.1:0");
        DataSplits poisoned = Poisoning.Apply(splits, spec, 0).Splits;
        Network network = ModelZoo.Create("mlp:64x3", poisoned.Train, 0);
        Trainer.Train(network, poisoned.Train, null, new TrainingOptions { Epochs = 40, LearningRate = 3e-3, Seed = 0, Patience = 0 });
        return (network, splits, spec);
    }

    [Fact]
    public void OneCleansedPairRemovesADigitsTrojan()
    {
        (Network network, DataSplits splits, PoisonSpec spec) = DigitsTrojan();
        Dataset triggered = Poisoning.TriggeredTest(splits.Test, spec);
        double asrBefore = RectificationMetrics.AttackSuccessRate(network, triggered, 0);
        Assert.True(asrBefore > 0.8, $"the Trojan must be planted for the test to mean anything (ASR {asrBefore:P1})");
        CleansedPairs pairs = Poisoning.Pairs(spec, splits.Validation, 1, 0);
        var refined = new RectifyOptions(RectifyMode.Static, Edit: new EditOptions(PreserveClean: true));
        RectificationResult result = Rectifier.Rectify(network, pairs.Corrupted, pairs.Clean, pairs.Labels, splits.Validation, splits.Train.X, refined);
        double asrAfter = RectificationMetrics.AttackSuccessRate(result.Network, triggered, 0);
        Assert.Equal(["fc2"], result.Layers);
        Assert.True(asrAfter < 0.2, $"ASR {asrBefore:P1} → {asrAfter:P1}");
        Assert.True(Evaluator.Accuracy(network, splits.Test) - Evaluator.Accuracy(result.Network, splits.Test) < 0.01);
    }

    [Fact]
    public void PreservingTheCleanTwinKeepsItsValue()
    {
        Dataset data = TestSupport.RandomImages(64, seed: 13);
        Network network = ModelZoo.Create("mlp:32x3", data, seed: 8);
        AffineSite fc2 = AffineSites.Find(network, "fc2");
        Tensor clean = data.X.narrow(0, 0, 1), corrupted = Stamp(clean);
        using var statistics = new KeyStatistics(network, data.X);
        Tensor Values(Tensor x) => LayerValues(network, fc2, x);
        Tensor cleanBefore = Values(clean);
        foreach (bool preserve in new[] { false, true })
        {
            LayerEdit edit = RankOneEdit.Compute(network, fc2, corrupted, clean, [0], statistics.SecondMoment(fc2, KeyKind.Vector), new EditOptions(PreserveClean: preserve));
            edit.Apply();
            double cleanShift = Values(clean).sub(cleanBefore).abs().max().item<double>();
            double corruptedMiss = Values(corrupted).sub(cleanBefore).abs().max().item<double>();
            edit.Rollback();
            Assert.True(corruptedMiss < 1e-4, $"preserve={preserve}: W'k* = v* missed by {corruptedMiss}");
            if (preserve) Assert.True(cleanShift < 1e-4, $"the clean twin moved by {cleanShift}");
            else Assert.True(cleanShift > 1e-3, "without preservation the paper's edit moves the clean twin too (else this test shows nothing)");
        }
    }

    [Fact]
    public void AugmentationTransplantsALocalTriggerAndAddsAGlobalOne()
    {
        Dataset pool = TestSupport.RandomImages(10, seed: 14);
        Tensor clean = TestSupport.RandomImages(1, seed: 15).X, corrupted = Stamp(clean);
        (Tensor c, Tensor k, long[] labels) = PairAugmentation.Augment(corrupted, clean, [3], pool, 4, seed: 1);
        Assert.Equal(5, c.shape[0]);
        Assert.Equal(3, labels[0]);
        Tensor mask = corrupted.sub(clean).abs().gt(1e-6)[0];
        for (int i = 1; i < 5; i++)
        {
            Assert.True(c[i].masked_select(mask).eq(1f).all().item<bool>(), "trigger pixels copied");
            Assert.True(c[i].masked_select(mask.logical_not()).eq(k[i].masked_select(mask.logical_not())).all().item<bool>(), "other pixels untouched");
            int source = Enumerable.Range(0, 10).Single(j => pool.X[j].eq(k[i]).all().item<bool>());
            Assert.Equal(pool.Labels()[source], labels[i]);
        }
        // A blend (1 − v)·x + v·P with a pattern that reaches 0 and 1: v is recovered and the same blend applied to the new images.
        Tensor pattern = TestSupport.RandomImages(1, seed: 18).X[0];
        pattern[0, 0, 0] = 0f;
        pattern[0, 0, 1] = 1f;
        Tensor blended = clean.mul(0.7).add(pattern.mul(0.3));
        Assert.Equal(0.3, PairAugmentation.BlendWeight(blended[0], clean[0]), 4);
        (Tensor g, Tensor gk, _) = PairAugmentation.Augment(blended, clean, [3], pool, 2, seed: 1);
        Assert.True(g[1].allclose(gk[1].mul(0.7).add(pattern.mul(0.3)), atol: 1e-4), "the new image blended with the same pattern and weight");
        Assert.Equal(11, PairAugmentation.Augment(corrupted, clean, [3], pool, 11, seed: 1).Corrupted.shape[0]); // the pool's 10, each once
    }

    [Fact]
    public void HeldBackTransplantsAreOtherImagesAndLeaveTheEditedPairsAsAugmentationMakesThem()
    {
        Dataset pool = TestSupport.RandomImages(30, seed: 19);
        Tensor clean = TestSupport.RandomImages(2, seed: 20).X, corrupted = Stamp(clean);
        (Tensor c, Tensor k, long[] labels) = PairAugmentation.Augment(corrupted, clean, [3, 5], pool, 4, seed: 2);
        (Tensor ec, Tensor ek, long[] el, Tensor hc, Tensor hk, long[] hl, long[] sources) = PairAugmentation.AugmentAndHoldBack(corrupted, clean, [3, 5], pool, 4, 6, seed: 2);
        Assert.True(ec.SameAs(c) && ek.SameAs(k), "the pairs edited on are augmentation's own");
        Assert.Equal(labels, el);
        Assert.Equal(12, hc.shape[0]);
        Assert.Equal([0L, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1], sources);
        int PoolIndex(Tensor image) => Enumerable.Range(0, 30).Single(j => pool.X[j].eq(image).all().item<bool>());
        for (int pair = 0; pair < 2; pair++)
        {
            int[] edited = [.. Enumerable.Range(0, 4).Select(j => PoolIndex(ek[2 + pair * 4 + j]))];
            int[] held = [.. Enumerable.Range(0, 6).Select(j => PoolIndex(hk[pair * 6 + j]))];
            Assert.Empty(edited.Intersect(held));
            Assert.Equal(held.Select(j => pool.Labels()[j]), hl.Skip(pair * 6).Take(6));
            Assert.True(hc.narrow(0, pair * 6, 6).SameAs(Stamp(hk.narrow(0, pair * 6, 6))), "held-back pairs carry the pair's trigger");
        }

        // Removing held-back rows returns them in the order given and drops them from the set.
        Network network = ModelZoo.Create("cnn", pool, seed: 3);
        var heldBack = new HeldBackPairs(network, corrupted, clean, hc, hk, hl, sources);
        (Tensor mc, Tensor mk, long[] ml) = heldBack.Remove([7, 2]);
        Assert.True(mc[0].SameAs(hc[7]) && mc[1].SameAs(hc[2]) && mk[0].SameAs(hk[7]));
        Assert.Equal([hl[7], hl[2]], ml);
        Assert.Equal(10, heldBack.Count);
        Assert.True(heldBack.Remove([0]).Corrupted[0].SameAs(hc[0]) && heldBack.Remove([1]).Corrupted[0].SameAs(hc[3]), "the rest keep their order");
    }

    [Fact]
    public void HeldBackPairsTheCorruptionStillSteersJoinThePairsAndTheLoopGoesOn()
    {
        (Network network, DataSplits splits, PoisonSpec spec) = DigitsTrojan();
        CleansedPairs pairs = Poisoning.Pairs(spec, splits.Validation, 1, 0);
        Dataset triggered = Poisoning.TriggeredTest(splits.Test, spec);
        // The paper's edits at fc1 from one pair close the pair's gap, but not every triggered image's.
        var paper = new RectifyOptions(RectifyMode.Dynamic, Layer: "fc1", Gap: 0.01, Budget: 0.05, MaxRounds: 10);
        RectificationResult alone = Rectifier.Rectify(network, pairs.Corrupted, pairs.Clean, pairs.Labels, splits.Validation, splits.Train.X, paper);
        RectificationResult checkedEdits = Rectifier.Rectify(network, pairs.Corrupted, pairs.Clean, pairs.Labels, splits.Validation, splits.Train.X, paper with { HeldBack = 100 });
        Assert.All(alone.Rounds, r => Assert.Null(r.HeldBackStillSteered));
        int closing = checkedEdits.Rounds.TakeWhile(r => r.HeldBackStillSteered is null).Count();
        Assert.True(closing < checkedEdits.Rounds.Count, "a round closes the pair's gap");
        int steered = checkedEdits.Rounds[closing].HeldBackStillSteered!.Value;
        double asrAlone = RectificationMetrics.AttackSuccessRate(alone.Network, triggered, 0), asrChecked = RectificationMetrics.AttackSuccessRate(checkedEdits.Network, triggered, 0);
        Assert.True(steered > 0, $"the edits leave held-back pairs steered (else this test shows nothing); ASR after them {asrAlone:P1}");
        // They join the pairs: the next round starts from the larger set's gap, above δ, and edits again.
        Assert.True(checkedEdits.Rounds.Count > closing + 1 && checkedEdits.Rounds[closing + 1].GapBefore > 0.01,
            string.Join("; ", checkedEdits.Rounds.Select(r => $"{r.Layer} {r.GapBefore:G3} → {r.GapAfter:G3} {r.HeldBackStillSteered}")));
        Assert.True(asrChecked < asrAlone, $"ASR with the check {asrChecked:P1}, without {asrAlone:P1}");
    }

    [Fact]
    public void RolledBackRoundsDoNotCountAgainstTheEditsTheLoopMayKeep()
    {
        (Dataset data, Network network, Tensor corrupted, Tensor clean, long label) = PairAcrossClasses(13, 7);
        // Every round must close all of the gap: the ones that do not are rolled back and their layers excluded, yet one edit may still be kept.
        var options = new RectifyOptions(RectifyMode.Dynamic, Budget: 1, Gap: 0, MaxRounds: 1, NextOnRollback: true, MinGapClosed: 1);
        RectificationResult result = Rectifier.Rectify(network, corrupted, clean, [label], data, data.X, options);
        Assert.True(result.Rounds.Count(r => r.Kept) <= 1);
        Assert.True(result.Rounds.Count == 3 || result.Rounds[^1].Kept, string.Join(", ", result.Rounds.Select(r => $"{r.Layer} {r.Kept}")));
        Assert.Equal(result.Rounds.Count, result.Rounds.Select(r => r.Layer).Distinct().Count());
        // The stop reason names why the loop ended, not an earlier round's rollback.
        if (result.Rounds[^1].Kept) Assert.DoesNotContain("rolled back", result.StopReason);
        else Assert.Contains("rolled back", result.StopReason);
    }

    [Fact]
    public void RelocationMovesALocalTriggerToTheOtherCellsOfTheGrid()
    {
        Tensor clean = TestSupport.RandomImages(1, seed: 16).X, corrupted = Stamp(clean); // 3×3 patch at rows/columns 24–26: 1 pixel from the far edges
        (Tensor moved, Tensor bases) = PairAugmentation.Relocate(corrupted, clean);
        Assert.Equal(8, moved.shape[0]);
        var corners = new HashSet<(long, long)>();
        for (int i = 0; i < 8; i++)
        {
            Assert.True(bases[i].eq(clean[0]).all().item<bool>());
            Tensor pixels = moved[i].sub(bases[i]).abs().gt(1e-6).any(0);
            long[] rows = [.. pixels.any(1).nonzero().flatten().data<long>()], columns = [.. pixels.any(0).nonzero().flatten().data<long>()];
            Assert.True(rows.Length <= 3 && columns.Length <= 3 && rows.Length > 0, $"placement {i}: rows {string.Join(",", rows)}, columns {string.Join(",", columns)}");
            Assert.True(moved[i][.., TensorIndex.Slice(rows[0], rows[0] + 3), TensorIndex.Slice(columns[0], columns[0] + 3)].eq(1f).all().item<bool>(), "the patch is copied whole");
            corners.Add((rows[0], columns[0]));
        }
        // Mirrored margins: the trigger sits 1 pixel from the bottom and right edges, so the far cells are 1 pixel from the top and left.
        Assert.Contains((1L, 1L), corners);
        Assert.Contains((1L, 24L), corners);
        Assert.Contains((24L, 1L), corners);
        Assert.DoesNotContain((24L, 24L), corners);
        Assert.Equal(0, PairAugmentation.Relocate(clean.mul(0.5).add(0.25), clean).Moved.shape[0]);
        Assert.Equal(0, PairAugmentation.Relocate(corrupted.flatten(1), clean.flatten(1)).Moved.shape[0]);
    }

    [Fact]
    public void HoldingTheTriggerElsewhereKeepsItsValuesThere()
    {
        Dataset data = TestSupport.RandomImages(64, seed: 17);
        Network network = ModelZoo.Create("mlp:32x3", data, seed: 9);
        AffineSite fc1 = AffineSites.Find(network, "fc1");
        Tensor clean = data.X.narrow(0, 0, 1), corrupted = Stamp(clean);
        (Tensor moved, _) = PairAugmentation.Relocate(corrupted, clean);
        using var statistics = new KeyStatistics(network, data.X);
        Tensor Values(Tensor x) => LayerValues(network, fc1, x);
        Tensor movedBefore = Values(moved), cleanBefore = Values(clean);
        foreach (bool hold in new[] { false, true })
        {
            LayerEdit edit = RankOneEdit.Compute(network, fc1, corrupted, clean, [0], statistics.SecondMoment(fc1, KeyKind.Vector), new EditOptions(HoldElsewhere: hold));
            edit.Apply();
            double movedShift = Values(moved).sub(movedBefore).abs().max().item<double>();
            double corruptedMiss = Values(corrupted).sub(cleanBefore).abs().max().item<double>();
            edit.Rollback();
            Assert.True(corruptedMiss < 1e-4, $"hold={hold}: W'k* = v* missed by {corruptedMiss}");
            if (hold) Assert.True(movedShift < 1e-4, $"the trigger moved elsewhere changed the layer's values by {movedShift}");
            else Assert.True(movedShift > 1e-3, "without holding, the paper's edit moves the trigger's other placements too (else this test shows nothing)");
        }
    }

    [Fact]
    public void TheCommandLineRunsReparosDefaultsUnlessToldPaper()
    {
        RectifyOptions recommended = RectifyOptions.Recommended(seed: 3), paper = RectifyOptions.Paper(seed: 3);
        Assert.Equal((RectifyMode.Dynamic, 0.01, 20, true, 0.25, true, true, 200), (recommended.Mode, recommended.Gap, recommended.Augment, recommended.NextOnRollback, recommended.MinGapClosed, recommended.Edit!.PreserveClean, recommended.Edit.HoldElsewhere, recommended.HeldBack));
        Assert.Equal((RectifyMode.Dynamic, 0.05, 0, false, 0.0, null, 0), (paper.Mode, paper.Gap, paper.Augment, paper.NextOnRollback, paper.MinGapClosed, paper.Edit, paper.HeldBack));
        Assert.Equal(3, recommended.Seed);
        // Transplants are a total spread over the cleansed pairs: one pair gets all 20, twenty pairs one each (and 10 held back each).
        Assert.Equal((20, 1, 10, 7, 0), (Rectifier.PerPair(20, 1), Rectifier.PerPair(20, 20), Rectifier.PerPair(200, 20), Rectifier.PerPair(20, 3), Rectifier.PerPair(0, 5)));
    }
}
