using System.Diagnostics;
using Reparo.Data;
using Reparo.Models;
using Reparo.Repair.Editing;
using Reparo.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Reparo.Repair.Baselines;

/// <summary>Options of <see cref="ClassArtifactCompensation"/>.</summary>
/// <param name="Layer">
/// <c>auto</c> (the network's last affine layer, i.e. the classifier) or the dotted name of a Linear layer; the methods
/// work at that layer's input.
/// </param>
/// <param name="Epochs">A-ClArC: passes over the (doubled) clean training features.</param>
/// <param name="LearningRate">A-ClArC: Adam's learning rate.</param>
/// <param name="BatchSize">A-ClArC: features per Adam step.</param>
/// <param name="Seed">A-ClArC: seed of the mini-batch order (same seed and threads: the same weights, byte for byte).</param>
public sealed record ClarcOptions(string Layer = "auto", int Epochs = 5, double LearningRate = 1e-3, int BatchSize = 64, int Seed = 0);

/// <summary>
/// The Class Artifact Compensation baselines of Anders et al. ("Finding and removing Clever Hans", Information Fusion
/// 2022), built from the same n cleansed pairs (corrupted input, clean twin) as <see cref="Rectifier"/>. Both work at the
/// input a of one Linear layer (by default the classifier) and use the artifact's concept activation vector from the
/// pairs, v = normalise(mean over pairs of a(corrupted) − a(clean)) (the "pattern" CAV of paired samples; one pair gives
/// its difference). <see cref="Project"/> (P-ClArC) projects v out towards the clean twins' mean activation and folds
/// the projection exactly into that layer's weight and bias; <see cref="Augment"/> (A-ClArC) fine-tunes that layer on
/// clean training features, half of them moved along v to the artifact's mean activation. A convolution is refused: the
/// projection's constant term cannot be folded into a padded convolution exactly. The input network is never modified.
/// </summary>
public static class ClassArtifactCompensation
{
    /// <summary>
    /// The layer the methods work at: the last affine layer for <c>auto</c>, otherwise the named one; a Conv2d is a
    /// <see cref="ReparoInputException"/> that says why.
    /// </summary>
    public static AffineSite Site(Network network, string layer = "auto")
    {
        AffineSite site;
        if (layer.Equals("auto", StringComparison.OrdinalIgnoreCase))
        {
            IReadOnlyList<AffineSite> sites = AffineSites.Of(network);
            site = sites.Count > 0 ? sites[^1] : throw new ReparoInputException("ClArC needs a Linear layer, and the network has no affine layer");
        }
        else site = AffineSites.Find(network, layer);
        if (site.AsLinear is null)
            throw new ReparoInputException($"ClArC works at the input of a Linear layer, and {site.Name} is a convolution: the projection's constant term cannot be folded exactly into a padded convolution");
        return site;
    }

    /// <summary>
    /// The artifact direction v at <paramref name="site"/>'s input: the mean over the pairs of a(corrupted) − a(clean),
    /// normalised (float64, length = the layer's input features). Identical or non-finite activations are a
    /// <see cref="ReparoInputException"/>.
    /// </summary>
    public static Tensor ArtifactDirection(Network network, AffineSite site, Tensor corrupted, Tensor clean)
    {
        using var scope = NewDisposeScope();
        Tensor difference = SiteInputs(network, site, corrupted).mean([0]).sub(SiteInputs(network, site, clean).mean([0]));
        return Normalise(difference, site).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// P-ClArC: with z the clean twins' mean activation at the layer's input, replaces every activation a by
    /// a − v vᵀ(a − z) (the artifact component set to the clean reference's), folded exactly into the layer:
    /// W' = W (I − v vᵀ), b' = b + W v vᵀ z. The architecture is unchanged; only that layer's weight and bias differ.
    /// </summary>
    /// <param name="network">The model (not modified).</param>
    /// <param name="corrupted">Corrupted inputs of the pairs.</param>
    /// <param name="clean">Their clean twins.</param>
    /// <param name="heldOut">Clean held-out data, for the accuracy the result reports.</param>
    /// <param name="options">The layer (the other options are A-ClArC's).</param>
    public static RectificationResult Project(Network network, Tensor corrupted, Tensor clean, Dataset heldOut, ClarcOptions? options = null)
    {
        options ??= new ClarcOptions();
        ValidatePairs(corrupted, clean, heldOut);
        var total = Stopwatch.StartNew();
        Network model = network.Clone();
        model.eval();
        AffineSite site = Site(model, options.Layer);
        if (site.Bias is null) throw new ReparoInputException($"P-ClArC folds a constant into the bias of {site.Name}, which has none");
        var clock = Stopwatch.StartNew();
        (double accuracyBefore, double gapBefore) = Measure(model, heldOut, corrupted, clean);
        double evaluate = clock.Elapsed.TotalSeconds;

        clock.Restart();
        double deltaNorm;
        using (var scope = NewDisposeScope())
        {
            Tensor cleanFeatures = SiteInputs(model, site, clean);
            Tensor v = Normalise(SiteInputs(model, site, corrupted).mean([0]).sub(cleanFeatures.mean([0])), site);
            Tensor z = cleanFeatures.mean([0]);
            Tensor weight = site.Weight.detach().to(ScalarType.Float64);
            Tensor wv = weight.matmul(v);
            Tensor newWeight = weight.sub(outer(wv, v));
            Tensor newBias = site.Bias.detach().to(ScalarType.Float64).add(wv.mul(v.dot(z)));
            deltaNorm = newWeight.sub(weight).norm().item<double>();
            using var noGrad = no_grad();
            site.Weight.copy_(newWeight.to(site.Weight.dtype));
            site.Bias.copy_(newBias.to(site.Bias.dtype));
        }
        double edit = clock.Elapsed.TotalSeconds;

        clock.Restart();
        (double accuracyAfter, double gapAfter) = Measure(model, heldOut, corrupted, clean);
        double evaluateAfter = clock.Elapsed.TotalSeconds;
        return Result(model, site, "P-ClArC", "projection", deltaNorm, corrupted.shape[0], accuracyBefore, accuracyAfter, gapBefore, gapAfter,
            $"P-ClArC: the artifact direction projected out at the input of {site.Name}", 0, edit, evaluate, evaluateAfter, total);
    }

    /// <summary>
    /// A-ClArC: fine-tunes only the layer's weight and bias (everything before it is frozen, so the features are computed
    /// once) on clean training features and the same features moved to the artifact's mean along v,
    /// a ↦ a + v vᵀ(z⁺ − a) with z⁺ the corrupted inputs' mean activation, both with the inputs' true labels (so the
    /// mix is 50/50). Cross-entropy, Adam, <see cref="ClarcOptions.Epochs"/> passes in mini-batches whose order is drawn
    /// from <see cref="ClarcOptions.Seed"/>; the network runs in evaluation mode throughout.
    /// </summary>
    /// <param name="network">The model (not modified).</param>
    /// <param name="corrupted">Corrupted inputs of the pairs.</param>
    /// <param name="clean">Their clean twins.</param>
    /// <param name="heldOut">Clean held-out data, for the accuracy the result reports.</param>
    /// <param name="trainInputs">Clean training inputs (e.g. the rectifier's statistics inputs).</param>
    /// <param name="trainLabels">Their labels (int64, one per input).</param>
    /// <param name="options">Layer and training settings.</param>
    public static RectificationResult Augment(Network network, Tensor corrupted, Tensor clean, Dataset heldOut, Tensor trainInputs, Tensor trainLabels, ClarcOptions? options = null)
    {
        options ??= new ClarcOptions();
        ValidatePairs(corrupted, clean, heldOut);
        if (trainInputs.shape[0] == 0 || trainLabels.shape.Length != 1 || trainLabels.shape[0] != trainInputs.shape[0])
            throw new ReparoInputException($"A-ClArC needs clean training inputs with one label each (got {trainInputs.shape[0]} inputs, {trainLabels.shape[0]} labels)");
        if (options.Epochs < 1) throw new ReparoInputException($"A-ClArC needs at least one epoch, got {options.Epochs}");
        if (options.BatchSize < 1) throw new ReparoInputException($"the batch size must be at least 1, got {options.BatchSize}");
        if (!(options.LearningRate > 0) || !double.IsFinite(options.LearningRate)) throw new ReparoInputException($"the learning rate must be positive, got {options.LearningRate}");
        var total = Stopwatch.StartNew();
        Network model = network.Clone();
        model.eval();
        AffineSite site = Site(model, options.Layer);
        int layer = model.Layers.ToList().FindIndex(l => ReferenceEquals(l.Module, site.Module));
        if (layer < 0) throw new ReparoInputException($"A-ClArC trains a top-level Linear layer from its input features, and {site.Name} sits inside a block");
        var clock = Stopwatch.StartNew();
        (double accuracyBefore, double gapBefore) = Measure(model, heldOut, corrupted, clean);
        double evaluate = clock.Elapsed.TotalSeconds;

        clock.Restart();
        using var scope = NewDisposeScope();
        Tensor features = SiteInputs(model, site, trainInputs);
        if (features.shape[0] != trainInputs.shape[0]) throw new ReparoInputException($"A-ClArC needs one feature vector per input at {site.Name}, got {features.shape[0]} for {trainInputs.shape[0]} inputs");
        Tensor corruptedFeatures = SiteInputs(model, site, corrupted);
        Tensor v = Normalise(corruptedFeatures.mean([0]).sub(SiteInputs(model, site, clean).mean([0])), site);
        Tensor artifact = corruptedFeatures.mean([0]).dot(v); // vᵀz⁺
        Tensor shifted = features.add(outer(artifact.sub(features.matmul(v)), v)); // a + v vᵀ(z⁺ − a), row by row
        Tensor inputs = cat([features, shifted], 0).to(site.Weight.dtype);
        Tensor targets = cat([trainLabels, trainLabels], 0).to(ScalarType.Int64);
        double statistics = clock.Elapsed.TotalSeconds;

        clock.Restart();
        Linear linear = site.AsLinear!;
        Tensor original = site.Weight.detach().clone();
        Parameter[] all = [.. model.parameters()];
        bool[] trainable = [.. all.Select(p => p.requires_grad)];
        Parameter[] trained = linear.bias is null ? [linear.weight!] : [linear.weight!, linear.bias];
        var generator = new Generator((ulong)options.Seed);
        try
        {
            foreach (Parameter p in all) p.requires_grad = false;
            foreach (Parameter p in trained) p.requires_grad = true;
            using optim.Optimizer optimizer = optim.Adam(trained, options.LearningRate);
            long count = inputs.shape[0];
            for (int epoch = 0; epoch < options.Epochs; epoch++)
            {
                using Tensor order = randperm(count, generator: generator);
                for (long start = 0; start < count; start += options.BatchSize)
                {
                    using var step = NewDisposeScope();
                    Tensor batch = order.narrow(0, start, Math.Min(options.BatchSize, count - start));
                    optimizer.zero_grad();
                    Tensor loss = nn.functional.cross_entropy(model.Forward(inputs.index_select(0, batch), layer, model.ScoreLayerCount), targets.index_select(0, batch));
                    if (!loss.isfinite().item<bool>()) throw new ReparoInputException($"A-ClArC's loss became non-finite in epoch {epoch + 1}; try a smaller learning rate");
                    loss.backward();
                    optimizer.step();
                }
            }
        }
        finally
        {
            for (int i = 0; i < all.Length; i++) all[i].requires_grad = trainable[i];
            model.eval();
        }
        double deltaNorm = site.Weight.detach().sub(original).to(ScalarType.Float64).norm().item<double>();
        double edit = clock.Elapsed.TotalSeconds;

        clock.Restart();
        (double accuracyAfter, double gapAfter) = Measure(model, heldOut, corrupted, clean);
        double evaluateAfter = clock.Elapsed.TotalSeconds;
        return Result(model, site, "A-ClArC", "adam", deltaNorm, corrupted.shape[0], accuracyBefore, accuracyAfter, gapBefore, gapAfter,
            $"A-ClArC: {options.Epochs} epoch(s) on {trainInputs.shape[0]} clean inputs, half moved to the artifact at the input of {site.Name}",
            statistics, edit, evaluate, evaluateAfter, total);
    }

    /// <summary>The layer's input for <paramref name="x"/> as rows of its input features (float64, evaluation mode, no gradients).</summary>
    private static Tensor SiteInputs(Network network, AffineSite site, Tensor x, int batchSize = 500)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        long features = site.Weight.shape[1];
        var parts = new List<Tensor>();
        network.InEvalMode(() =>
        {
            for (long start = 0; start < x.shape[0]; start += batchSize)
            {
                (_, Tensor input, Tensor output) = AffineSites.Capture(network, site, x.narrow(0, start, Math.Min(batchSize, x.shape[0] - start)));
                parts.Add(input.reshape(-1, features).to(ScalarType.Float64));
                input.Dispose();
                output.Dispose();
            }
            return 0;
        });
        return cat(parts, 0).MoveToOuterDisposeScope();
    }

    private static Tensor Normalise(Tensor difference, AffineSite site)
    {
        double norm = difference.norm().item<double>();
        if (!double.IsFinite(norm) || norm <= 1e-12)
            throw new ReparoInputException($"the corrupted inputs and their clean twins give {(double.IsFinite(norm) ? "the same" : "non-finite")} activations at the input of {site.Name}, so there is no artifact direction");
        return difference.div(norm);
    }

    private static (double Accuracy, double Gap) Measure(Network model, Dataset heldOut, Tensor corrupted, Tensor clean) =>
        (Evaluator.Accuracy(model, heldOut), Rectifier.PairGap(model, corrupted, clean));

    private static void ValidatePairs(Tensor corrupted, Tensor clean, Dataset heldOut)
    {
        if (corrupted.shape[0] == 0 || !corrupted.shape.SequenceEqual(clean.shape))
            throw new ReparoInputException($"ClArC needs matching corrupted inputs and clean twins (got {corrupted.shape[0]} and {clean.shape[0]})");
        if (!corrupted.isfinite().all().item<bool>() || !clean.isfinite().all().item<bool>()) throw new ReparoInputException("the pairs contain NaN or infinite values");
        if (heldOut.Count == 0) throw new ReparoInputException("ClArC needs held-out data to report accuracy");
    }

    private static RectificationResult Result(Network model, AffineSite site, string method, string solver, double deltaNorm, long pairs, double accuracyBefore, double accuracyAfter,
        double gapBefore, double gapAfter, string stop, double statistics, double edit, double evaluateBefore, double evaluateAfter, Stopwatch total)
    {
        model.Provenance = model.Provenance with { History = [.. model.Provenance.History, $"{method} (baseline) with {pairs} pair(s) at {site.Name}"] };
        var round = new RectificationRound(1, site.Name, [], gapBefore, gapAfter, accuracyAfter, accuracyBefore - accuracyAfter, true, solver, deltaNorm, 0, edit, evaluateAfter);
        return new RectificationResult(model, [round], accuracyBefore, accuracyAfter, gapBefore, gapAfter, stop,
            new RectifyTiming(statistics, 0, edit, evaluateBefore + evaluateAfter, total.Elapsed.TotalSeconds));
    }
}
