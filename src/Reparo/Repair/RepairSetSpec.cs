using System.Globalization;
using System.Text.Json;
using Reparo.Data;
using Reparo.Io;
using Reparo.Models;
using static TorchSharp.torch;

namespace Reparo.Repair;

/// <summary>
/// Builds a <see cref="RepairProblem"/> from a repair-set specification string:
/// <list type="bullet">
/// <item><c>CORRUPTION:SEVERITY:N</c> (e.g. <c>fog:3:100</c>): the first N test images, corrupted, that the model gets wrong.
/// Drawdown: the clean test set without those images; generalisation: the rest of the corrupted test set.</item>
/// <item><c>CORRUPTION:SEVERITY:N:any</c> (e.g. <c>fog:3:100:any</c>): the first N test images, corrupted, whatever the
/// model predicts (APRNN's protocol). Drawdown and generalisation as for <c>CORRUPTION:SEVERITY:N</c>.</item>
/// <item><c>failures:N</c>: the first N test inputs the model gets wrong, as they are (any data: tables, text, images).
/// Drawdown: the test set without those inputs; generalisation: the test inputs it gets wrong beyond the first N (none
/// right before the repair).</item>
/// <item><c>file:PATH</c>: JSON <c>{"inputs": [...], "labels": [...]}</c> with inputs shaped like the model's input
/// (one entry per point), or with <c>"regions": [[i, j, …], …]</c> grouping inputs into polytopes (then one label per region).
/// Drawdown: the clean test set; no generalisation set.</item>
/// <item><c>npz:PATH</c>: a NumPy archive with <c>x</c> (N, …) inputs as raw as the data's (float32, float64 or uint8 ÷ 255;
/// the model applies its own preprocessing) and <c>y</c> integer labels, one per row; or with an integer array
/// <c>regions</c> (N,) assigning each row of <c>x</c> to a region 0 … R−1, whose rows are that polytope's vertices (as
/// <c>file:PATH</c>'s <c>"regions"</c>), and then one label per region in <c>y</c> (R,). Drawdown: the clean test set;
/// no generalisation set.</item>
/// <item><c>csv:PATH</c>: a table read as <c>--data csv:</c> reads one (header, separator, label column), one point per
/// row, its features as raw as the data's; a label is one of the model's class names, or a class index. Drawdown: the
/// clean test set; no generalisation set.</item>
/// <item><c>folder:PATH</c>: images in <c>PATH/CLASS/*.png|jpg</c>, one point each, to be classified as the sub-folder's
/// class (a class name of the model or a class index), decoded and resized as the data's folder images are; named by
/// their files. Drawdown: the clean test set; no generalisation set.</item>
/// <item><c>rotations:MIN:MAX:K:N[:CORRUPTION:SEVERITY]</c> (e.g. <c>rotations:-30:30:7:5</c>): N misclassified corrupted
/// test images (default fog:3), each a polytope with K vertices, its rotations evenly spaced from MIN to MAX degrees.
/// Drawdown: the clean test set without those images; generalisation: the same images rotated every 0.1° in [MIN, MAX],
/// without the vertex angles.</item>
/// <item><c>trojan:N</c>: for a model trained with a Trojan (its file records the poisoning, e.g. <c>badnets:0.1:0</c>),
/// the first N triggered test images of other classes that the trigger flips to the target class, to be classified as
/// their true class. Drawdown: the clean test set without those images; generalisation: the rest of the triggered test set.</item>
/// </list>
/// Corruption, rotation and trojan sets keep each repair image's clean image as its <see cref="RepairRegion.Counterpart"/>.
/// </summary>
public static class RepairSetSpec
{
    /// <summary>Parses <paramref name="spec"/> and selects the repair set and held-out sets for <paramref name="network"/>.</summary>
    /// <param name="spec">The specification.</param>
    /// <param name="network">The model to repair (its failures define most repair sets).</param>
    /// <param name="splits">The dataset's splits; the test split is used.</param>
    /// <param name="seed">Seed of the corruptions.</param>
    public static RepairProblem Build(string spec, Network network, DataSplits splits, int seed)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        return ParseAndSelect(spec, network, splits, seed) with { BuildSeconds = clock.Elapsed.TotalSeconds };
    }

    private static RepairProblem ParseAndSelect(string spec, Network network, DataSplits splits, int seed)
    {
        if (splits.Test.Kind == InputKind.Tokens)
            throw new ReparoInputException($"{splits.Test.Name} holds token sequences, and every repair method edits weights from floating-point inputs (images, tables): a text model cannot be repaired here (reparo explain takes it, and reparo influence a recurrent one)");
        string[] parts = spec.Split(':');
        if (parts[0] == "file" && parts.Length >= 2) return FromFile(spec[5..], network, splits);
        if (parts[0] == "npz" && parts.Length >= 2) return FromNpz(spec[4..], network, splits);
        if (parts[0] == "csv" && parts.Length >= 2) return FromCsv(spec[4..], network, splits);
        if (parts[0] == "folder" && parts.Length >= 2) return FromFolder(spec[7..], network, splits);
        if (parts[0] == "rotations") return Rotations(spec, parts, network, splits, seed);
        if (parts[0] == "trojan" && parts.Length == 2) return Trojan(spec, Int(parts[1], spec), network, splits);
        if (parts[0] == "failures" && parts.Length == 2) return Failures(spec, Int(parts[1], spec), network, splits.Test);
        if (parts.Length is 3 or 4 && Corruptions.Names.Contains(parts[0]))
        {
            if (parts.Length == 4 && parts[3] != "any") throw new ReparoInputException($"'{parts[3]}' in '{spec}' should be 'any' (CORRUPTION:SEVERITY:N:any takes the first N corrupted test images whatever the model predicts)");
            Corruption corruption = Corruptions.Parse(parts[0]);
            int severity = Int(parts[1], spec), n = Int(parts[2], spec);
            (Dataset corrupted, int[] rows) = CorruptedRows(network, splits.Test, corruption, severity, seed, n, failuresOnly: parts.Length == 3, spec);
            RepairSet set = RepairSet.FromPoints(corrupted, rows, spec, splits.Test);
            return new RepairProblem(network, set, WithoutRows(splits.Test, rows, $"{splits.Test.Name} (clean, without the repair images)"),
                WithoutRows(corrupted, rows, $"{corrupted.Name} (without the repair images)"));
        }
        throw new ReparoInputException($"unknown repair set '{spec}'; use CORRUPTION:SEVERITY:N (e.g. fog:3:100), CORRUPTION:SEVERITY:N:any, failures:N, file:PATH, npz:PATH, csv:PATH, folder:PATH, rotations:MIN:MAX:K:N[:CORRUPTION:SEVERITY] or trojan:N");
    }

    private static RepairProblem Failures(string spec, int n, Network network, Dataset test)
    {
        if (n < 1) throw new ReparoInputException($"the number of repair points must be positive in '{spec}'");
        int[] wrong = Misclassified(network, test);
        if (wrong.Length < n) throw new ReparoInputException($"the model gets only {wrong.Length} of {test.Count} test inputs wrong; ask for at most that many ({spec})");
        int[] rows = wrong[..n];
        RepairSet set = RepairSet.FromPoints(test, rows, spec);
        Dataset? others = wrong.Length > n ? test.Subset(wrong[n..], $"{test.Name} (the other inputs the model gets wrong)") : null;
        return new RepairProblem(network, set, WithoutRows(test, rows, $"{test.Name} (without the repair inputs)"), others);
    }

    private static RepairProblem Trojan(string spec, int n, Network network, DataSplits splits)
    {
        if (n < 1) throw new ReparoInputException($"the number of repair points must be positive in '{spec}'");
        string poison = network.Provenance.Poison ?? throw new ReparoInputException($"'{spec}' needs a model trained with a Trojan (reparo train --poison badnets:RATE:TARGET); this model records no poisoning");
        PoisonSpec trojan = PoisonSpec.Parse(poison);
        if (!trojan.IsTrojan) throw new ReparoInputException($"'{spec}' needs a Trojan model; this one was trained with {trojan}");
        Dataset triggered = Poisoning.TriggeredTest(splits.Test, trojan);
        long[] predictions = network.Predict(triggered.X);
        int[] flipped = Enumerable.Range(0, triggered.Count).Where(i => predictions[i] == trojan.Class).Take(n).ToArray();
        if (flipped.Length < n) throw new ReparoInputException($"the trigger flips only {flipped.Length} of {triggered.Count} test images to class {trojan.Class}; ask for at most that many");
        var testRow = new Dictionary<int, int>();
        for (int i = 0; i < splits.Test.Count; i++) testRow[splits.Test.SourceIndices[i]] = i;
        Dataset clean = splits.Test.Subset(triggered.SourceIndices.Select(s => testRow[s]).ToArray());
        RepairSet set = RepairSet.FromPoints(triggered, flipped, spec, clean);
        int[] cleanRows = flipped.Select(i => testRow[triggered.SourceIndices[i]]).ToArray();
        return new RepairProblem(network, set, WithoutRows(splits.Test, cleanRows, $"{splits.Test.Name} (clean, without the repair images)"),
            WithoutRows(triggered, flipped, $"{triggered.Name} (without the repair images)"));
    }

    /// <summary>
    /// The test set corrupted, and the rows of its first <paramref name="n"/> images: those the model gets wrong when
    /// <paramref name="failuresOnly"/>, else whatever it predicts.
    /// </summary>
    private static (Dataset Corrupted, int[] Rows) CorruptedRows(Network network, Dataset test, Corruption corruption, int severity, int seed, int n, bool failuresOnly, string spec)
    {
        if (severity is < 1 or > 5) throw new ReparoInputException($"severity must be 1–5 in '{spec}'");
        if (n < 1) throw new ReparoInputException($"the number of repair points must be positive in '{spec}'");
        if (test.Kind != InputKind.Image) throw new ReparoInputException($"corruption repair sets need image data, not {test.Name}");
        Dataset corrupted = Corruptions.Apply(test, corruption, severity, seed);
        if (!failuresOnly)
        {
            if (corrupted.Count < n) throw new ReparoInputException($"the test set has only {corrupted.Count} images for {spec}; ask for at most that many");
            return (corrupted, Enumerable.Range(0, n).ToArray());
        }
        int[] wrong = Misclassified(network, corrupted);
        if (wrong.Length < n) throw new ReparoInputException($"the model gets only {wrong.Length} of {corrupted.Count} images wrong under {spec}; ask for at most that many");
        return (corrupted, wrong[..n]);
    }

    /// <summary>The rows of <paramref name="data"/> that <paramref name="network"/> gets wrong, in order.</summary>
    private static int[] Misclassified(Network network, Dataset data)
    {
        long[] predictions = network.Predict(data.X);
        long[] labels = data.Labels();
        return [.. Enumerable.Range(0, labels.Length).Where(i => predictions[i] != labels[i])];
    }

    private static Dataset WithoutRows(Dataset data, int[] rows, string name)
    {
        var excluded = rows.ToHashSet();
        return data.Subset(Enumerable.Range(0, data.Count).Where(i => !excluded.Contains(i)).ToArray(), name);
    }

    private static RepairProblem Rotations(string spec, string[] parts, Network network, DataSplits splits, int seed)
    {
        if (parts.Length is not (5 or 7)) throw new ReparoInputException($"'{spec}' should be rotations:MIN:MAX:K:N[:CORRUPTION:SEVERITY]");
        double min = Double(parts[1], spec), max = Double(parts[2], spec);
        int k = Int(parts[3], spec), n = Int(parts[4], spec);
        if (!(min < max) || k < 2) throw new ReparoInputException($"'{spec}' needs MIN < MAX and at least 2 rotations");
        Corruption corruption = parts.Length == 7 ? Corruptions.Parse(parts[5]) : Corruption.Fog;
        int severity = parts.Length == 7 ? Int(parts[6], spec) : 3;
        (Dataset corrupted, int[] rows) = CorruptedRows(network, splits.Test, corruption, severity, seed, n, failuresOnly: true, spec);
        long[] labels = corrupted.Labels();
        double[] angles = Enumerable.Range(0, k).Select(i => min + (max - min) * i / (k - 1)).ToArray();
        var regions = new List<RepairRegion>();
        var dense = new List<Tensor>();
        var denseLabels = new List<long>();
        int steps = (int)Math.Round((max - min) * 10);
        double[] grid = Enumerable.Range(0, steps + 1).Select(i => Math.Round(min + i * 0.1, 6))
            .Where(a => angles.All(v => Math.Abs(v - a) > 1e-9)).ToArray();
        foreach (int row in rows)
        {
            using Tensor image = corrupted.X.narrow(0, row, 1);
            Tensor copies = image.expand(k, -1, -1, -1);
            regions.Add(new RepairRegion(ImageTransforms.Rotate(copies, angles), labels[row], $"{corrupted.Name}#{corrupted.SourceName(row)}@rot", splits.Test.X.narrow(0, row, 1).clone()));
            dense.Add(ImageTransforms.Rotate(image.expand(grid.Length, -1, -1, -1), grid));
            denseLabels.AddRange(Enumerable.Repeat(labels[row], grid.Length));
        }
        var set = new RepairSet(regions, spec);
        var rotated = new Dataset($"{corrupted.Name}+rotations every 0.1°", cat(dense, 0), tensor(denseLabels.ToArray()), corrupted.ClassNames, InputKind.Image);
        return new RepairProblem(network, set, WithoutRows(splits.Test, rows, $"{splits.Test.Name} (clean, without the repair images)"), rotated);
    }

    private sealed record RepairFile(JsonElement Inputs, long[] Labels, int[][]? Regions);

    private static RepairProblem FromFile(string path, Network network, DataSplits splits)
    {
        if (!File.Exists(path)) throw new ReparoInputException($"repair-set file not found: {path}");
        RepairFile file;
        try
        {
            file = JsonSerializer.Deserialize<RepairFile>(File.ReadAllText(path), new JsonSerializerOptions { PropertyNameCaseInsensitive = true })
                ?? throw new ReparoInputException($"{path}: empty repair-set file");
        }
        catch (JsonException e)
        {
            throw new ReparoInputException($"{path}: not a repair-set JSON file ({e.Message.Split('\n')[0]})");
        }
        if (file.Labels is null || file.Inputs.ValueKind != JsonValueKind.Array) throw new ReparoInputException($"{path}: needs \"inputs\" (array) and \"labels\"");
        long[] shape = network.Spec.InputShape;
        int width = (int)shape.Aggregate(1L, (a, b) => a * b);
        var values = new List<float>();
        int count = 0;
        foreach (JsonElement input in file.Inputs.EnumerateArray())
        {
            int before = values.Count;
            Flatten(input, values, path);
            if (values.Count - before != width) throw new ReparoInputException($"{path}: input {count} has {values.Count - before} values; the model expects {width} ({string.Join("×", shape)})");
            count++;
        }
        if (count == 0) throw new ReparoInputException($"{path}: no inputs");
        Tensor x = tensor(values.ToArray()).reshape([count, .. shape]);
        int[][] groups = file.Regions ?? Enumerable.Range(0, count).Select(i => new[] { i }).ToArray();
        if (file.Labels.Length != groups.Length) throw new ReparoInputException($"{path}: {file.Labels.Length} labels for {groups.Length} {(file.Regions is null ? "inputs" : "regions")}");
        var regions = new List<RepairRegion>();
        for (int r = 0; r < groups.Length; r++)
        {
            long label = file.Labels[r];
            if (label < 0 || label >= network.ClassCount) throw new ReparoInputException($"{path}: label {label} is not a class of the model (0–{network.ClassCount - 1})");
            if (groups[r].Length == 0 || groups[r].Any(i => i < 0 || i >= count)) throw new ReparoInputException($"{path}: region {r} refers to inputs that do not exist");
            using Tensor index = tensor(groups[r].Select(i => (long)i).ToArray());
            regions.Add(new RepairRegion(x.index_select(0, index), label, $"file#{r}"));
        }
        return new RepairProblem(network, new RepairSet(regions, $"file:{path}"), splits.Test, null);
    }

    private static RepairProblem FromNpz(string path, Network network, DataSplits splits)
    {
        IReadOnlyDictionary<string, NpyArray> arrays = NpyReader.ReadNpz(path);
        if (!arrays.TryGetValue("x", out NpyArray? xArray) || !arrays.TryGetValue("y", out NpyArray? yArray))
            throw new ReparoInputException($"{path}: a repair-set archive needs arrays 'x' and 'y' (and optionally 'regions'); it has {string.Join(", ", arrays.Keys)}");
        Tensor x = ModelInputs.FromArray(xArray, network);
        int count = (int)x.shape[0];
        if (count == 0) throw new ReparoInputException($"{path}: no inputs in x");
        long[] labels = yArray.ToInt64();
        if (yArray.Shape.Length != 1) throw new ReparoInputException($"{yArray.Name}: shape {yArray.ShapeText}; expected one label per {(arrays.ContainsKey("regions") ? "region" : "row of x")}");
        int[][] groups;
        if (arrays.TryGetValue("regions", out NpyArray? regionArray))
        {
            long[] region = regionArray.ToInt64();
            if (regionArray.Shape.Length != 1 || region.Length != count) throw new ReparoInputException($"{regionArray.Name}: shape {regionArray.ShapeText}; expected ({count},), one region per row of x");
            if (region.Any(r => r < 0 || r >= labels.Length))
                throw new ReparoInputException($"{regionArray.Name}: region ids must be 0–{labels.Length - 1}, one label each in y");
            groups = Enumerable.Range(0, labels.Length).Select(r => Enumerable.Range(0, count).Where(i => region[i] == r).ToArray()).ToArray();
            int empty = Array.FindIndex(groups, g => g.Length == 0);
            if (empty >= 0) throw new ReparoInputException($"{regionArray.Name}: region {empty} has no rows (y has a label for it)");
        }
        else
        {
            if (labels.Length != count) throw new ReparoInputException($"{yArray.Name}: {labels.Length} labels for {count} inputs");
            groups = Enumerable.Range(0, count).Select(i => new[] { i }).ToArray();
        }
        var regions = new List<RepairRegion>();
        for (int r = 0; r < groups.Length; r++)
        {
            if (labels[r] < 0 || labels[r] >= network.ClassCount) throw new ReparoInputException($"{yArray.Name}: label {labels[r]} is not a class of the model (0–{network.ClassCount - 1})");
            using Tensor index = tensor(groups[r].Select(i => (long)i).ToArray());
            regions.Add(new RepairRegion(x.index_select(0, index), labels[r], $"npz#{r}"));
        }
        return new RepairProblem(network, new RepairSet(regions, $"npz:{path}"), splits.Test, null);
    }

    private static RepairProblem FromCsv(string path, Network network, DataSplits splits)
    {
        CsvTable table = CsvTable.Read(path).OnClasses(network.Spec.ClassNames, path);
        long[] shape = network.Spec.InputShape;
        long width = shape.Aggregate(1L, (a, b) => a * b);
        if (network.Spec.InputKind == InputKind.Tokens || table.Features[0].Length != width)
            throw new ReparoInputException($"{path}: rows of {table.Features[0].Length} features; the model reads {network.Spec.InputKind.ToString().ToLowerInvariant()} of shape [{string.Join(",", shape)}]");
        int count = table.Features.Length;
        Tensor x = tensor(table.Features.SelectMany(row => row).ToArray()).reshape([count, .. shape]);
        var regions = new List<RepairRegion>(count);
        for (int r = 0; r < count; r++)
            regions.Add(new RepairRegion(x.narrow(0, r, 1), table.Labels[r], FormattableString.Invariant($"{Path.GetFileName(path)}:{table.LineNumbers[r]}")));
        return new RepairProblem(network, new RepairSet(regions, $"csv:{path}"), splits.Test, null);
    }

    /// <summary>
    /// <c>folder:PATH</c>: images in <c>PATH/CLASS/*.png|jpg</c>, each to be classified as its sub-folder's class (a class
    /// name of the model or a class index), decoded and resized as the data's folder images are.
    /// </summary>
    private static RepairProblem FromFolder(string path, Network network, DataSplits splits)
    {
        long[] shape = network.Spec.InputShape;
        if (network.Spec.InputKind != InputKind.Image || shape.Length != 3)
            throw new ReparoInputException($"{path}: a folder repair set holds images; the model reads {network.Spec.InputKind.ToString().ToLowerInvariant()} of shape [{string.Join(",", shape)}]");
        string name = $"folder:{Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(path)))}";
        Dataset images = UserData.LoadImages(path, network.Spec.ClassNames, splits.ImageResizing, (int)shape[0], name);
        if (!images.SampleShape.SequenceEqual(shape))
        {
            throw new ReparoInputException($"{path}: images of shape [{string.Join(",", images.SampleShape)}], but the model reads [{string.Join(",", shape)}]"
                + (splits.ImageResizing is { } resizing ? $" (after {resizing})" : "; resize them as the data's folder images are, with --resize and --center-crop"));
        }
        return new RepairProblem(network, RepairSet.FromPoints(images, [.. Enumerable.Range(0, images.Count)], $"folder:{path}"), splits.Test, null);
    }

    private static void Flatten(JsonElement e, List<float> values, string path)
    {
        if (e.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement item in e.EnumerateArray()) Flatten(item, values, path);
        }
        else if (e.ValueKind == JsonValueKind.Number && e.TryGetSingle(out float v) && float.IsFinite(v))
        {
            values.Add(v);
        }
        else
        {
            throw new ReparoInputException($"{path}: inputs must be finite numbers, found {e.GetRawText()}");
        }
    }

    private static int Int(string text, string spec) =>
        int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) ? value : throw new ReparoInputException($"'{text}' in '{spec}' is not an integer");

    private static double Double(string text, string spec) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) && double.IsFinite(value) ? value : throw new ReparoInputException($"'{text}' in '{spec}' is not a number");
}
