using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;
using Reparo.Data;
using Reparo.Influence;
using Reparo.Io;
using Reparo.Models;
using Reparo.Models.Onnx;
using Reparo.Repair;
using SkiaSharp;
using static TorchSharp.torch;

namespace Reparo.Experiments;

/// <summary>Settings of a fuzz run.</summary>
public sealed record FuzzOptions
{
    /// <summary>Mutated files per parser.</summary>
    public int Cases { get; init; } = 1000;

    /// <summary>Seed of the mutations (same seed, same cases).</summary>
    public int Seed { get; init; }

    /// <summary>How long one parse may take before it counts as a hang.</summary>
    public TimeSpan Deadline { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How many bytes one parse may allocate (managed) or add to the process's working set before it counts as a memory failure.</summary>
    public long MemoryLimitBytes { get; init; } = 1L << 30;
}

/// <summary>One case that did not end in acceptance or a clean rejection.</summary>
/// <param name="Outcome"><c>internal-error</c>, <c>hang</c> or <c>memory</c>.</param>
/// <param name="Case">The case's index (with the seed, it reproduces the file).</param>
/// <param name="SeedFile">The valid file that was mutated.</param>
/// <param name="Mutation">What was done to it.</param>
/// <param name="Detail">The exception's type and first message line, or what was exceeded.</param>
public sealed record FuzzFailure(string Outcome, int Case, string SeedFile, string Mutation, string Detail);

/// <summary>The outcome counts of one parser's fuzz run.</summary>
/// <param name="Parser">The parser's name.</param>
/// <param name="Cases">Mutated files parsed.</param>
/// <param name="Accepted">Files parsed without error.</param>
/// <param name="Rejected">Files refused with a <see cref="ReparoInputException"/>.</param>
/// <param name="InternalErrors">Files that raised any other exception.</param>
/// <param name="Hangs">Files whose parse passed the deadline.</param>
/// <param name="MemoryFailures">Files whose parse passed the memory limit.</param>
/// <param name="Seconds">Wall time of the run.</param>
/// <param name="Failures">Up to 20 examples of each failure outcome.</param>
public sealed record FuzzParserResult(string Parser, int Cases, int Accepted, int Rejected, int InternalErrors, int Hangs, int MemoryFailures,
    double Seconds, IReadOnlyList<FuzzFailure> Failures)
{
    /// <summary>Whether no case crashed, hung or ran out of memory.</summary>
    public bool Clean => InternalErrors == 0 && Hangs == 0 && MemoryFailures == 0;
}

/// <summary>
/// Fuzzes Reparo's file parsers in-process: each parser's valid seed files (made in code) are mutated by a seeded
/// <see cref="FuzzMutator"/> (bit flips, overwrites, truncation, junk, extreme integers, chunk swaps and duplicates, and
/// for text number, bracket and field mutations) and parsed on a worker thread under a deadline and a memory watch.
/// Acceptance and a <see cref="ReparoInputException"/> are fine; any other exception, a hang or a memory blow-up is a
/// finding.
/// </summary>
public static partial class ParserFuzzer
{
    private const int MaxExamples = 20;

    /// <summary>The parsers that can be fuzzed.</summary>
    public static readonly IReadOnlyList<string> Parsers =
        ["idx", "csv", "tsv", "npy", "npz", "image-folder", "wordnet", "fortunes", "model", "influence", "repair-set-json", "repair-set-npz", "onnx"];

    private sealed record Seed(string Name, byte[] Bytes, bool Text);

    /// <param name="Extension">The extension of the case files.</param>
    /// <param name="Seeds">The valid files that are mutated, in turn.</param>
    /// <param name="Parse">The parser, given the case file's path and bytes.</param>
    /// <param name="Framed">Whether the format is a <see cref="FramedFile"/>, whose payload checksum half the cases reseal so
    /// that mutations reach past the checksum.</param>
    private sealed record Target(string Extension, IReadOnlyList<Seed> Seeds, Func<string, byte[], object?> Parse, bool Framed = false)
    {
        /// <summary>What the parser reads against (a repair set's model), disposed after the run.</summary>
        public IDisposable? Context { get; init; }
    }

    /// <summary>Fuzzes <paramref name="parser"/> (one of <see cref="Parsers"/>); needs torch loaded.</summary>
    public static FuzzParserResult Run(string parser, FuzzOptions options)
    {
        if (!Parsers.Contains(parser)) throw new ReparoInputException($"unknown parser '{parser}'; use one of {string.Join(", ", Parsers)} or all");
        if (options.Cases < 1) throw new ReparoInputException($"--cases must be positive, not {options.Cases}");
        string folder = Directory.CreateTempSubdirectory("reparo-fuzz-").FullName;
        Target? target = null;
        try
        {
            target = Build(parser, folder);
            CheckSeeds(parser, target, folder, options);
            var mutator = new FuzzMutator(CaseSeed(options.Seed, parser));
            var watch = Stopwatch.StartNew();
            int accepted = 0, rejected = 0, internalErrors = 0, hangs = 0, memory = 0, generation = 0;
            var failures = new List<FuzzFailure>();
            for (int i = 0; i < options.Cases; i++)
            {
                Seed seed = target.Seeds[i % target.Seeds.Count];
                (byte[] bytes, string mutation, _) = mutator.Mutate(seed.Bytes, seed.Text);
                if (target.Framed && i % 4 >= 2 && Reseal(bytes)) mutation += "; checksum resealed";
                string path = Path.Combine(folder, $"case{generation}{target.Extension}");
                File.WriteAllBytes(path, bytes);
                (string outcome, string detail) = Parse(target, path, bytes, options);
                switch (outcome)
                {
                    case "accepted": accepted++; break;
                    case "rejected": rejected++; break;
                    case "internal-error": internalErrors++; break;
                    case "hang": hangs++; break;
                    default: memory++; break;
                }
                // An abandoned parse may still hold its file; the next case writes a new one.
                if (outcome is "hang" or "memory") generation++;
                if (outcome is "internal-error" or "hang" or "memory" && failures.Count(f => f.Outcome == outcome) < MaxExamples)
                    failures.Add(new FuzzFailure(outcome, i, seed.Name, mutation, detail));
            }
            return new FuzzParserResult(parser, options.Cases, accepted, rejected, internalErrors, hangs, memory, Math.Round(watch.Elapsed.TotalSeconds, 2), failures);
        }
        finally
        {
            target?.Context?.Dispose();
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>Every seed file must parse unmutated, or the run would measure a broken seed instead of the parser.</summary>
    private static void CheckSeeds(string parser, Target target, string folder, FuzzOptions options)
    {
        foreach (Seed seed in target.Seeds)
        {
            string path = Path.Combine(folder, $"seed{target.Extension}");
            File.WriteAllBytes(path, seed.Bytes);
            (string outcome, string detail) = Parse(target, path, seed.Bytes, options);
            if (outcome != "accepted") throw new InvalidOperationException($"fuzz seed {seed.Name} of {parser} does not parse ({outcome}: {detail})");
        }
    }

    /// <summary>The results as a Markdown table (parser, cases, outcome counts, seconds) followed by every failure example.</summary>
    public static string Markdown(IReadOnlyList<FuzzParserResult> results, FuzzOptions options)
    {
        var text = new StringBuilder();
        text.AppendLine($"Seed {options.Seed}, {options.Cases} cases per parser, deadline {options.Deadline.TotalSeconds:0.#} s, memory limit {options.MemoryLimitBytes >> 20} MiB.");
        text.AppendLine();
        text.AppendLine("| parser | cases | accepted | rejected | internal errors | hangs | memory | seconds |");
        text.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (FuzzParserResult r in results)
            text.AppendLine(FormattableString.Invariant($"| {r.Parser} | {r.Cases} | {r.Accepted} | {r.Rejected} | {r.InternalErrors} | {r.Hangs} | {r.MemoryFailures} | {r.Seconds:0.0} |"));
        foreach (FuzzParserResult r in results)
            foreach (FuzzFailure f in r.Failures)
                text.AppendLine($"- {r.Parser} {f.Outcome}: case {f.Case} of {f.SeedFile} ({f.Mutation}): {f.Detail}");
        return text.ToString();
    }

    /// <summary>The mutation seed of <paramref name="parser"/>: the run's seed mixed with a stable hash of the name.</summary>
    private static int CaseSeed(int seed, string parser)
    {
        uint hash = 2166136261;
        foreach (char c in parser) hash = (hash ^ c) * 16777619;
        return (int)(hash ^ (uint)seed * 0x9E3779B9);
    }

    private static (string Outcome, string Detail) Parse(Target target, string path, byte[] bytes, FuzzOptions options)
    {
        Exception? error = null;
        long allocated = 0;
        var worker = new Thread(() =>
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                using var scope = NewDisposeScope();
                (target.Parse(path, bytes) as IDisposable)?.Dispose();
            }
            catch (Exception e)
            {
                error = e;
            }
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        }, maxStackSize: 16 << 20)
        { IsBackground = true };
        long startSet = Environment.WorkingSet;
        var clock = Stopwatch.StartNew();
        worker.Start();
        while (!worker.Join(20))
        {
            if (Environment.WorkingSet - startSet > options.MemoryLimitBytes) return ("memory", $"working set grew by more than {options.MemoryLimitBytes} bytes");
            if (clock.Elapsed > options.Deadline) return ("hang", $"still running after {options.Deadline.TotalSeconds:0.#} s");
        }
        if (allocated > options.MemoryLimitBytes) return ("memory", $"allocated {allocated} bytes");
        return Unwrap(error) switch
        {
            null => ("accepted", ""),
            ReparoInputException e => ("rejected", e.Message),
            Exception e => ("internal-error", $"{e.GetType().Name}: {e.Message.Split('\n')[0]}"),
        };
    }

    private static Exception? Unwrap(Exception? e) =>
        e is AggregateException or System.Reflection.TargetInvocationException && e.InnerException is { } inner ? Unwrap(inner) : e;

    private static Target Build(string parser, string folder)
    {
        switch (parser)
        {
            case "idx":
                byte[] idx = [0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 4, .. Enumerable.Range(0, 48).Select(i => (byte)(i * 5))];
                return new Target(".idx", [new("images.idx", idx, false), new("images.idx.gz", Gzip(idx), false)], (path, _) => IdxReader.Read(path, 3));
            case "csv":
                byte[] csv = Encoding.UTF8.GetBytes("a,b,c,label\n0.1,0.2,0.3,0\n1.5,-2,3e2,1\n0,0,0,2\n4,5,6,1\n");
                return new Target(".csv", [new("table.csv", csv, true), new("table.csv.gz", Gzip(csv), false)], (path, _) => CsvTable.Read(path));
            case "tsv":
                byte[] tsv = Encoding.UTF8.GetBytes("pos\ta fine film 10 out of 10\nneg\tdull, slow [and] long\n\npos\t{great} fun\n");
                return new Target(".tsv", [new("text.tsv", tsv, true)], (path, _) => TextCorpus.ReadTsv(path));
            case "npy":
                return new Target(".npy",
                    [new("float32.npy", Npy(rand(3, 4, generator: Generator(1))), false), new("uint8.npy", Npy(arange(8, dtype: ScalarType.Byte).reshape(2, 2, 2)), false),
                     new("int64.npy", Npy(tensor(new long[] { 0, 1, 2 })), false)],
                    (_, bytes) => NpyReader.Read(new MemoryStream(bytes), "fuzz.npy", NpyReader.DefaultMaxBytes, bytes.Length));
            case "npz":
                byte[] data = Npz(("x_train", rand(6, 4, generator: Generator(2))), ("y_train", tensor(new long[] { 0, 1, 2, 0, 1, 2 })),
                    ("x_test", rand(4, 4, generator: Generator(3))), ("y_test", tensor(new long[] { 2, 1, 0, 1 })));
                return new Target(".npz", [new("data.npz", data, false)], (path, _) => UserData.LoadNpz(path, new DataOptions()));
            case "image-folder":
                {
                    // A two-class tree of 8×8 images; each case replaces one training image.
                    string root = Path.Combine(folder, "images");
                    foreach (string part in new[] { "train", "test" })
                        foreach (string c in new[] { "a", "b" })
                        {
                            Directory.CreateDirectory(Path.Combine(root, part, c));
                            for (int k = 0; k < 2; k++) File.WriteAllBytes(Path.Combine(root, part, c, $"{k}.png"), Image(8, 8, gray: true, SKEncodedImageFormat.Png, k + (c == "b" ? 2 : 0)));
                        }
                    string replaced = Path.Combine(root, "train", "a", "1.png");
                    return new Target(".png",
                        [new("gray.png", Image(8, 8, gray: true, SKEncodedImageFormat.Png, 5), false), new("rgb.png", Image(8, 8, gray: false, SKEncodedImageFormat.Png, 6), false),
                         new("rgb.jpg", Image(8, 8, gray: false, SKEncodedImageFormat.Jpeg, 7), false)],
                        (_, bytes) =>
                        {
                            File.WriteAllBytes(replaced, bytes);
                            // Half the cases resize every image (torchvision's Resize then CenterCrop), so a mutated size reaches the resampler.
                            ImageResizing? resizing = bytes.Length % 2 == 0 ? null : new ImageResizing(new ImageSize(6), new ImageSize(5, 4));
                            return UserData.LoadFolder(root, new DataOptions { ImageResizing = resizing });
                        });
                }
            case "wordnet":
                byte[] nouns = Encoding.UTF8.GetBytes(
                    "  1 This software and database is being provided to you, the LICENSEE, by Princeton University\n" +
                    "02084071 05 n 02 dog 0 domestic_dog 0 003 @ 02083346 n 0000 ~ 01322604 n 0000 | a member of the genus Canis; \"the dog barked all night\"  \n" +
                    "02121620 05 n 01 cat 0 002 @ 02120997 n 0000 ~ 02121808 n 0000 | feline mammal usually having thick soft fur  \n" +
                    "12992868 20 n 01 fern 0 001 @ 13083023 n 0000 | any of numerous flowerless and seedless vascular plants  \n" +
                    "11669921 20 n 02 flower 0 angiosperm 0 001 @ 13083586 n 0000 | a plant cultivated for its blooms or blossoms  \n" +
                    "03051540 06 n 01 clothing 0 001 @ 03093574 n 0000 | a covering designed to be worn on a person's body  \n");
                return new Target(".noun", [new("data.noun", nouns, true)], (path, _) => TextCorpus.ReadWordNet(path, ["animal", "plant"]));
            case "fortunes":
                {
                    string topics = Path.Combine(folder, "fortunes");
                    Directory.CreateDirectory(topics);
                    File.WriteAllText(Path.Combine(topics, "science"), "E = mc^2\n%\nThe universe is big.\n  -- Anonymous\n%\n");
                    byte[] fortunes = Encoding.UTF8.GetBytes("A fool and his money are soon parted.\n%\nTo be or not to be,\nthat is the question.\n\t-- Shakespeare\n%\n%\nFortune favours the bold.\n");
                    return new Target("", [new("humorists", fortunes, true)],
                        (_, bytes) =>
                        {
                            File.WriteAllBytes(Path.Combine(topics, "humorists"), bytes);
                            return TextCorpus.ReadFortunes(topics, ["humorists", "science"]);
                        });
                }
            case "model":
                {
                    // One of each layer family: dense, convolution and pooling, residual blocks, attention, recurrent cells over tokens.
                    (string Name, Network Network)[] networks = [.. Zoo()];
                    try
                    {
                        return new Target(".reparo", [.. networks.Select(n => new Seed($"{n.Name}.reparo", ModelFile.ToBytes(n.Network), false))], (path, bytes) => ModelFile.FromBytes(bytes, path), Framed: true);
                    }
                    finally
                    {
                        foreach ((_, Network n) in networks) n.Dispose();
                    }
                }
            case "influence":
                return new Target(".influence", [new("gru.influence", Influence(folder), false)], (path, _) => InfluenceModelFile.Read(path), Framed: true);
            case "onnx":
                {
                    // The exporter's graphs of each family: Gemm/MatMul, Conv and MaxPool, residual Add, attention (MatMul,
                    // Softmax, LayerNormalization), and Gather with LSTM or GRU.
                    (string Name, Network Network)[] networks = [.. Zoo()];
                    try
                    {
                        return new Target(".onnx", [.. networks.Select(n => new Seed($"{n.Name}.onnx", OnnxExporter.Export(n.Network), false))],
                            (_, bytes) => OnnxImporter.Import(bytes, "fuzz.onnx", null, new OnnxImportOptions()));
                    }
                    finally
                    {
                        foreach ((_, Network n) in networks) n.Dispose();
                    }
                }
            case "repair-set-json":
                {
                    (Network network, DataSplits splits) = RepairContext();
                    byte[] points = Encoding.UTF8.GetBytes("{\"inputs\": [[0.1, 0.2, 0.3, 0.4], [1, -1, 0.5, 2e-1]], \"labels\": [0, 2]}");
                    byte[] regions = Encoding.UTF8.GetBytes("{\"inputs\": [[0, 0, 0, 0], [1, 1, 1, 1], [0.5, 0.5, 0.5, 0.5]], \"regions\": [[0, 1], [2]], \"labels\": [1, 0]}");
                    return new Target(".json", [new("points.json", points, true), new("regions.json", regions, true)],
                        (path, _) => RepairSetSpec.Build($"file:{path}", network, splits, 0))
                    { Context = network };
                }
            default:
                {
                    (Network network, DataSplits splits) = RepairContext();
                    byte[] points = Npz(("x", rand(2, 4, generator: Generator(4))), ("y", tensor(new long[] { 0, 2 })));
                    byte[] regions = Npz(("x", rand(3, 4, generator: Generator(5))), ("y", tensor(new long[] { 1, 0 })), ("regions", tensor(new long[] { 0, 0, 1 })));
                    return new Target(".npz", [new("points.npz", points, false), new("regions.npz", regions, false)],
                        (path, _) => RepairSetSpec.Build($"npz:{path}", network, splits, 0))
                    { Context = network };
                }
        }
    }

    /// <summary>Rewrites the payload checksum in a framed file's header to match its (mutated) payload, where the frame still parses.</summary>
    private static bool Reseal(byte[] bytes)
    {
        if (bytes.Length < 12) return false;
        int length = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(8, 4));
        if (length <= 0 || 12L + length > bytes.Length) return false;
        string header = Encoding.UTF8.GetString(bytes, 12, length);
        Match match = ChecksumField().Match(header);
        if (!match.Success || !Encoding.UTF8.GetBytes(header).AsSpan().SequenceEqual(bytes.AsSpan(12, length))) return false;
        string sealedHeader = header[..match.Groups[1].Index] + FramedFile.Checksum(bytes.AsSpan(12 + length)) + header[(match.Groups[1].Index + 64)..];
        Encoding.UTF8.GetBytes(sealedHeader).CopyTo(bytes, 12);
        return true;
    }

    [GeneratedRegex("\"payload_?sha256\"\\s*:\\s*\"([0-9a-f]{64})\"", RegexOptions.IgnoreCase)]
    private static partial Regex ChecksumField();

    /// <summary>Small untrained networks of every family the zoo builds: MLP, CNN, ResNet and ViT on 8×8 images, LSTM and GRU on tokens.</summary>
    private static IEnumerable<(string Name, Network Network)> Zoo()
    {
        string[] classes = ["a", "b", "c"];
        yield return ("mlp", ModelZoo.Create("mlp:8x2", [4], InputKind.Features, classes, null, 1));
        foreach (string arch in new[] { "cnn", "resnet", "vit" }) yield return (arch, ModelZoo.Create(arch, [1, 8, 8], InputKind.Image, classes, null, 1));
        foreach (string arch in new[] { "lstm", "gru" }) yield return (arch, ModelZoo.Create($"{arch}:4", Tokens(1), 1));
    }

    /// <summary>An encoded <paramref name="width"/>×<paramref name="height"/> image of seeded pixels.</summary>
    private static byte[] Image(int width, int height, bool gray, SKEncodedImageFormat format, int seed)
    {
        var random = new Random(seed);
        using var bitmap = new SKBitmap(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                byte r = (byte)random.Next(256);
                bitmap.SetPixel(x, y, gray ? new SKColor(r, r, r) : new SKColor(r, (byte)random.Next(256), (byte)random.Next(256)));
            }
        using SKData data = bitmap.Encode(format, 90);
        return data.ToArray();
    }

    private static Generator Generator(int seed) => new TorchSharp.torch.Generator((ulong)seed);

    /// <summary>A four-feature, three-class MLP and a tiny data set, the context a repair-set file is read in.</summary>
    private static (Network Network, DataSplits Splits) RepairContext()
    {
        Network network = ModelZoo.Create("mlp:8x2", [4], InputKind.Features, ["a", "b", "c"], null, 1);
        var data = new Dataset("fuzz", rand(6, 4, generator: Generator(6)), tensor(new long[] { 0, 1, 2, 0, 1, 2 }), ["a", "b", "c"], InputKind.Features);
        return (network, new DataSplits(data, data, data));
    }

    private static Dataset Tokens(int seed)
    {
        const int n = 24, length = 6;
        var random = new Random(seed);
        var vocabulary = new Vocabulary(["<pad>", "<unk>", .. Enumerable.Range(0, 10).Select(i => $"w{i}")], length);
        long[] ids = Enumerable.Range(0, n * length).Select(_ => (long)random.Next(2, vocabulary.Size)).ToArray();
        long[] labels = Enumerable.Range(0, n).Select(i => (long)(i % 2)).ToArray();
        return new Dataset("tokens", tensor(ids).reshape(n, length), tensor(labels), ["c0", "c1"], InputKind.Tokens, vocabulary);
    }

    /// <summary>A valid influence model file for a tiny untrained GRU.</summary>
    private static byte[] Influence(string folder)
    {
        Dataset train = Tokens(2);
        using Network network = ModelZoo.Create("gru:4", train, 1);
        var options = new InfluenceOptions { Abstraction = new AbstractionOptions { PcaComponents = 2, Candidates = [2], StabilityThreshold = 0, Mixture = new GaussianMixtureOptions(Seed: 1) } };
        using InfluenceModel model = InfluenceModel.Build(network, train, options);
        string path = Path.Combine(folder, "seed.influence");
        InfluenceModelFile.Write(model, path);
        return File.ReadAllBytes(path);
    }

    private static byte[] Gzip(byte[] bytes)
    {
        var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true)) gzip.Write(bytes);
        return output.ToArray();
    }

    private static byte[] Npy(Tensor array)
    {
        var output = new MemoryStream();
        NpyWriter.Write(output, array);
        return output.ToArray();
    }

    /// <summary>An uncompressed <c>.npz</c>, so byte mutations reach the arrays and not only the deflate stream.</summary>
    private static byte[] Npz(params (string Name, Tensor Array)[] arrays)
    {
        var output = new MemoryStream();
        using (var archive = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true))
            foreach ((string name, Tensor array) in arrays)
            {
                using Stream entry = archive.CreateEntry($"{name}.npy", CompressionLevel.NoCompression).Open();
                entry.Write(Npy(array));
            }
        return output.ToArray();
    }
}
