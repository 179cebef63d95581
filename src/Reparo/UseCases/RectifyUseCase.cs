using System.Text.RegularExpressions;
using Reparo.Data;
using Reparo.Experiments;
using Reparo.Models;
using Reparo.Repair.Editing;

namespace Reparo.UseCases;

/// <summary>What <c>reparo rectify</c> is asked to do.</summary>
/// <param name="Network">The model; its provenance is given <paramref name="Poison"/> when that is set.</param>
/// <param name="ModelPath">The model's file (named in errors).</param>
/// <param name="Pairs"><c>trojan:N</c>, <c>spurious:N</c> or <c>block:N</c> (drawn from the validation split), or <c>npz:PATH</c> (the user's own pairs).</param>
/// <param name="TriggerTest">With <c>npz:</c> pairs: <c>npz:PATH</c> of triggered inputs to measure the attack success rate on.</param>
/// <param name="Target">With <paramref name="TriggerTest"/>: the class the trigger sends inputs to.</param>
/// <param name="Poison">The model's poisoning when its file does not record it.</param>
/// <param name="Options">Rectification options.</param>
/// <param name="StatisticsSamples">Training inputs for the key second moments.</param>
/// <param name="Seed">Seed of the pair and held-out draws.</param>
/// <param name="LoadData">The model's data splits, loaded once the model's poisoning is known.</param>
/// <param name="Out">Where the rectified model goes, if anywhere.</param>
public sealed record RectifyRequest(Network Network, string ModelPath, string Pairs, string? TriggerTest, int? Target, string? Poison, RectifyOptions Options,
    int StatisticsSamples, int Seed, Func<Network, DataSplits> LoadData, string? Out);

/// <summary>
/// <c>reparo rectify</c>: removes a Trojan, spurious correlation or feature leakage with rank-one edits from a few
/// cleansed pairs (drawn for a model Reparo poisoned, or the user's own), measures the model before and after, and
/// writes the rectified model when asked to. The options' mode picks the method: the rectifier (<c>static</c>,
/// <c>dynamic</c>) or a Class Artifact Compensation baseline (<c>p-clarc</c>, <c>a-clarc</c>) from the same pairs.
/// </summary>
public static partial class RectifyUseCase
{
    /// <summary>Rectifies and measures; the run's <see cref="RectificationRun.Report"/> is the command's JSON.</summary>
    public static RectificationRun Run(RectifyRequest request)
    {
        Network network = request.Network;
        RectificationRun result;
        if (request.Pairs.StartsWith("npz:", StringComparison.Ordinal))
        {
            DataSplits splits = request.LoadData(network);
            string? triggerPath = request.TriggerTest is not string trigger ? null : trigger.StartsWith("npz:", StringComparison.Ordinal) ? trigger[4..]
                : throw new ReparoInputException($"--trigger-test '{trigger}' should be npz:PATH");
            UserPairs user = UserPairs.Read(request.Pairs[4..], triggerPath, request.Target, network);
            result = RectificationRun.Execute(network, user, splits, request.Options, request.StatisticsSamples);
        }
        else
        {
            if (request.TriggerTest is not null || request.Target is not null) throw new ReparoInputException("--trigger-test and --target go with --pairs npz:PATH");
            PoisonSpec spec = PoisonSpec.Parse(request.Poison ?? network.Provenance.Poison
                ?? throw new ReparoInputException($"{request.ModelPath} records no poisoning; pass --poison SPEC, or bring your own pairs with --pairs npz:PATH"));
            int n = ParsePairs(request.Pairs, spec);
            network.Provenance = network.Provenance with { Poison = spec.ToString() };
            DataSplits splits = request.LoadData(network);
            result = RectificationRun.Execute(network, spec, splits, n, request.Options, request.StatisticsSamples, request.Seed);
        }
        if (request.Out is string outPath) ModelFile.Save(result.Rectification.Network, outPath);
        return result;
    }

    /// <summary>Parses <c>trojan:N</c>, <c>spurious:N</c> or <c>block:N</c> and checks it fits the model's poisoning.</summary>
    private static int ParsePairs(string text, PoisonSpec spec)
    {
        Match m = PairsPattern().Match(text.Trim().ToLowerInvariant());
        if (!m.Success) throw new ReparoInputException($"bad pairs '{text}'; expected trojan:N, spurious:N or block:N");
        string kind = m.Groups[1].Value;
        int n = int.Parse(m.Groups[2].Value);
        if (n < 1 || n > 1000) throw new ReparoInputException($"pairs: n must be 1 to 1000, got {n}");
        bool fits = kind switch { "trojan" => spec.IsTrojan, "spurious" => spec.Kind == PoisonKind.Spurious, _ => spec.Kind == PoisonKind.Block };
        if (!fits) throw new ReparoInputException($"pairs '{text}' do not fit a model poisoned with {spec}");
        return n;
    }

    [GeneratedRegex(@"^(trojan|spurious|block):(\d+)$")]
    private static partial Regex PairsPattern();

}
