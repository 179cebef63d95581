using System.Diagnostics;
using Reparo.Models;
using Reparo.Runtime;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Reparo.Repair.Baselines;

/// <summary>Settings of <see cref="FineTuneRepair"/>.</summary>
/// <param name="Layer">The layer to train (name such as <c>fc2</c> or <c>block1.fc1</c>, or 0-based index), or <c>all</c> for every layer.</param>
/// <param name="LearningRate">Adam's learning rate.</param>
/// <param name="MaxSteps">Most Adam steps before giving up.</param>
/// <param name="ChangePenalty">
/// Weight of Σ (θ − θ₀)² over the trained parameters added to the loss; 0 is plain fine-tuning (<c>ft</c>), a positive
/// value is modified fine-tuning (<c>mft</c>).
/// </param>
/// <param name="Seed">
/// Seeds torch's global generator before training. Training is full-batch and the zoo's layers draw no random numbers,
/// so today the result does not depend on it; it keeps runs reproducible should a layer ever do.
/// </param>
public sealed record FineTuneOptions(string Layer, double LearningRate = 1e-3, int MaxSteps = 2000, double ChangePenalty = 0, int Seed = 0);

/// <summary>
/// The fine-tuning baselines of APRNN (Tao et al., PLDI'23): <c>ft</c> trains the chosen layer (or all layers) with
/// full-batch Adam on cross-entropy over every repair vertex, each with its region's label, until all of them are
/// classified correctly; <c>mft</c> ("modified fine-tuning") adds a penalty on the squared distance to the original
/// parameters. Other layers stay bit-identical. When the step budget runs out the status is
/// <see cref="RepairStatus.TimeLimit"/> and the partly trained network is still returned with its verification, so its
/// efficacy and drawdown can be measured like those of a completed repair. Correct vertices that the verifier still
/// rejects (a float64 margin at or below zero, a polytope whose vertices do not share one activation pattern) give
/// <see cref="RepairStatus.NotVerified"/>; a non-finite loss gives <see cref="RepairStatus.NumericalTrouble"/> and no model.
/// </summary>
public sealed class FineTuneRepair : IRepairMethod
{
    private readonly FineTuneOptions options;

    /// <summary>Creates the method; rejects a non-positive learning rate or step budget and a negative penalty.</summary>
    public FineTuneRepair(FineTuneOptions options)
    {
        if (!(options.LearningRate > 0) || !double.IsFinite(options.LearningRate)) throw new ReparoInputException($"the learning rate must be positive, got {options.LearningRate}");
        if (options.MaxSteps < 1) throw new ReparoInputException($"the step budget must be at least 1, got {options.MaxSteps}");
        if (!(options.ChangePenalty >= 0) || !double.IsFinite(options.ChangePenalty)) throw new ReparoInputException($"the change penalty must be zero or positive, got {options.ChangePenalty}");
        this.options = options;
    }

    /// <inheritdoc />
    public string Name => options.ChangePenalty > 0 ? "mft" : "ft";

    /// <inheritdoc />
    public RepairResult Repair(RepairProblem problem)
    {
        var total = Stopwatch.StartNew();
        Network network = problem.Network.Clone();
        (string layerName, nn.Module trainedModule) = TrainedModule(network, options.Layer);
        Parameter[] trained = trainedModule.parameters().ToArray();
        if (trained.Length == 0) throw new ReparoInputException($"layer {layerName} has no parameters to fine-tune");
        foreach (Parameter p in network.parameters()) p.requires_grad = false;
        foreach (Parameter p in trained) p.requires_grad = true;

        (Tensor stacked, _, long[] required) = problem.RepairSet.Stacked();
        using Tensor x = stacked;
        using Tensor targets = tensor(required);
        Tensor[] original = trained.Select(p => p.detach().clone()).ToArray();
        manual_seed(options.Seed);
        using optim.Optimizer optimizer = optim.Adam(trained, options.LearningRate);
        double encode = total.Elapsed.TotalSeconds;

        var solve = Stopwatch.StartNew();
        int steps = 0, wrong = CountWrong(network, x, required);
        bool diverged = false;
        network.train();
        using ProgressScope shown = WorkProgress.Begin($"{Name} {layerName}", options.MaxSteps);
        while (wrong > 0 && steps < options.MaxSteps)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            Tensor loss = nn.functional.cross_entropy(network.Scores(x), targets);
            if (options.ChangePenalty > 0)
            {
                for (int i = 0; i < trained.Length; i++) loss = loss + options.ChangePenalty * (trained[i] - original[i]).square().sum();
            }
            if (!double.IsFinite(loss.item<float>()))
            {
                diverged = true;
                break;
            }
            loss.backward();
            optimizer.step();
            steps++;
            wrong = CountWrong(network, x, required);
            shown.Describe($"{wrong} of {required.Length} wrong");
            shown.Advance();
        }
        network.eval();
        foreach (Parameter p in network.parameters()) p.requires_grad = true;
        foreach (Tensor t in original) t.Dispose();
        double solveSeconds = solve.Elapsed.TotalSeconds;
        string[] notes = [$"{steps} Adam step{(steps == 1 ? "" : "s")} (learning rate {options.LearningRate}, change penalty {options.ChangePenalty})"];

        if (diverged)
        {
            network.Dispose();
            return new RepairResult
            {
                Method = Name,
                Layer = layerName,
                Status = RepairStatus.NumericalTrouble,
                Message = $"the loss became non-finite after {steps} steps; lower the learning rate",
                Time = new RepairTiming(encode, solveSeconds, 0, total.Elapsed.TotalSeconds),
                Notes = notes,
            };
        }

        VerifiedRepair verified = VerifiedRepair.Check(new PlainRepairedModel(network), problem.RepairSet);
        string message = wrong > 0
            ? $"{wrong} of {required.Length} vertices still misclassified after the step budget of {steps} steps"
            : verified.Report.Verified
                ? $"every vertex classified correctly after {steps} steps; verified"
                : $"every vertex classified correctly in float32 after {steps} steps, but the verifier rejected {verified.Rejected} of {verified.Report.Regions.Count} regions";
        var time = new RepairTiming(encode, solveSeconds, verified.Seconds, total.Elapsed.TotalSeconds);
        return verified.Result(Name, layerName, message, time, wrong > 0 ? RepairStatus.TimeLimit : null) with { Notes = notes };
    }

    /// <summary>The module whose parameters train: the whole network (<c>all</c>), a top-level layer, or a nested Linear/Conv2d (<c>block1.fc1</c>); ONNX node or initializer names stand for their layer.</summary>
    private static (string Name, nn.Module Module) TrainedModule(Network network, string layer)
    {
        if (layer.Equals("all", StringComparison.OrdinalIgnoreCase)) return ("all", network);
        layer = network.Spec.ResolveName(layer);
        if (layer.Contains('.', StringComparison.Ordinal))
        {
            AffineSite site = AffineSites.Find(network, layer);
            return (site.Name, site.Module);
        }
        NetworkLayer top = network.Layers[network.LayerIndex(layer)];
        return (top.Name, top.Module);
    }

    private static int CountWrong(Network network, Tensor x, long[] labels)
    {
        long[] predicted = network.Predict(x);
        return labels.Where((label, i) => predicted[i] != label).Count();
    }
}
