using Reparo.Data;
using Reparo.Repair.Baselines;
using Reparo.Repair.Editing;
using Reparo.Repair.Provable;

namespace Reparo.Repair;

/// <summary>Settings shared by the repair methods that the command line and the experiments choose by name.</summary>
public sealed record RepairSettings
{
    /// <summary>Layer to edit (name or index; <c>all</c> for fine-tuning every layer).</summary>
    public string Layer { get; init; } = "";

    /// <summary>Output rows or channels of the layer that may change, [start, end); null: all.</summary>
    public (int Start, int End)? Rows { get; init; }

    /// <summary>LP margin ε.</summary>
    public double Epsilon { get; init; } = 1e-3;

    /// <summary>LP bound on every parameter change.</summary>
    public double Bound { get; init; } = 3;

    /// <summary>LP solver and its settings.</summary>
    public LpSolverOptions Solver { get; init; } = new();

    /// <summary>Write the LP here in MPS format.</summary>
    public string? ExportLpPath { get; init; }

    /// <summary>What the LP minimises.</summary>
    public LpObjective Objective { get; init; } = LpObjective.Param;

    /// <summary>Clean training inputs the LP must keep correctly classified (locality; null: none).</summary>
    public PreserveRequest? Preserve { get; init; }

    /// <summary>Weight of the logit-change norms in the LP objective.</summary>
    public double LogitChangeWeight { get; init; }

    /// <summary>Use constraint generation for the sign rows of switched-off neurons.</summary>
    public bool ConstraintGeneration { get; init; }

    /// <summary>Provable LPs: refuse, before building it, an LP whose memory would exceed this many bytes (null: no limit); see <see cref="ProvableRepairOptions.MaxMemoryBytes"/>.</summary>
    public long? MaxMemoryBytes { get; init; }

    /// <summary>Provable LPs: do not attempt a program with more nonzeros than this (null: no cap); see <see cref="ProvableRepairOptions.MaxLpNonzeros"/>.</summary>
    public long? MaxLpNonzeros { get; init; }

    /// <summary>Fine-tuning learning rate (Adam).</summary>
    public double LearningRate { get; init; } = 1e-3;

    /// <summary>Fine-tuning step budget.</summary>
    public int MaxSteps { get; init; } = 2000;

    /// <summary>MFT's penalty on the squared parameter change.</summary>
    public double ChangePenalty { get; init; } = 1e-2;

    /// <summary>Seed of anything random.</summary>
    public int Seed { get; init; }

    /// <summary>Clean inputs (e.g. training images) for the key statistics of <c>edit</c>.</summary>
    public TorchSharp.torch.Tensor? StatisticsInputs { get; init; }
}

/// <summary>The repair methods by command-line name.</summary>
public static class RepairMethods
{
    /// <summary>The names, in the order the experiments report them.</summary>
    public static readonly IReadOnlyList<string> Names = ["provable", "prdnn", "lastlayer", "ft", "mft", "edit", "lookup"];

    /// <summary>Returns <paramref name="name"/> if it names a method; otherwise the one-line error listing them.</summary>
    public static string Require(string name) =>
        Names.Contains(name) ? name : throw new ReparoInputException($"unknown repair method '{name}'; choose {string.Join(", ", Names)}");

    /// <summary>The methods that solve an LP, with the variant each encodes.</summary>
    private static readonly Dictionary<string, LpRepairVariant> LpVariants = new()
    {
        ["provable"] = LpRepairVariant.Aprnn,
        ["prdnn"] = LpRepairVariant.Prdnn,
        ["lastlayer"] = LpRepairVariant.LastLayer,
    };

    /// <summary>Whether the method called <paramref name="name"/> solves an LP (and so uses <see cref="RepairSettings.Solver"/>).</summary>
    public static bool SolvesLp(string name) => LpVariants.ContainsKey(name);

    /// <summary>The clean inputs <c>edit</c>'s key statistics are estimated on by default: the first 4 000 training inputs.</summary>
    public static TorchSharp.torch.Tensor StatisticsInputs(Dataset train) => train.X.narrow(0, 0, Math.Min(4000, train.Count));

    /// <summary>Creates the method called <paramref name="name"/>.</summary>
    public static IRepairMethod Create(string name, RepairSettings settings)
    {
        ProvableRepairOptions Lp(LpRepairVariant variant) => new()
        {
            Variant = variant,
            Layer = settings.Layer,
            Rows = settings.Rows,
            Epsilon = settings.Epsilon,
            Bound = settings.Bound,
            Solver = settings.Solver,
            ExportLpPath = settings.ExportLpPath,
            Objective = settings.Objective,
            Preserve = settings.Preserve,
            LogitChangeWeight = settings.LogitChangeWeight,
            ConstraintGeneration = settings.ConstraintGeneration,
            MaxMemoryBytes = settings.MaxMemoryBytes,
            MaxLpNonzeros = settings.MaxLpNonzeros,
        };
        if (LpVariants.TryGetValue(name, out LpRepairVariant variant)) return new ProvableRepair(Lp(variant));
        return name switch
        {
            "ft" => new FineTuneRepair(new FineTuneOptions(settings.Layer, settings.LearningRate, settings.MaxSteps, 0, settings.Seed)),
            "mft" => new FineTuneRepair(new FineTuneOptions(settings.Layer, settings.LearningRate, settings.MaxSteps, settings.ChangePenalty, settings.Seed)),
            "edit" => new EditRepair(new EditRepairOptions(settings.Layer, settings.StatisticsInputs ?? throw new ReparoInputException("the edit method needs clean inputs for its key statistics"))),
            "lookup" => new LookupTableRepair(),
            _ => throw new ReparoInputException($"unknown repair method '{Require(name)}'"),
        };
    }
}
