using System.Runtime.InteropServices;
using Reparo.Io;
using Reparo.Models;

namespace Reparo.Influence;

/// <summary>
/// The file of an <see cref="InfluenceModel"/> (the persisted influence model of Xie et al., ICML'21, Sec. 3): an
/// 8-byte magic <c>REPINFL\0</c>, a 4-byte little-endian header length, a UTF-8 JSON header (format version, build
/// report, sizes, mixture fit details and a table of arrays with type, length and offset, plus the SHA-256 of the
/// payload), then the raw little-endian arrays: the embedded network file, PCA, mixture, visit counts, the training
/// traces and the transition index. Written atomically; any defect on reading is a one-line <see cref="ReparoInputException"/>.
/// </summary>
public static class InfluenceModelFile
{
    /// <summary>The format written and the only one read.</summary>
    public const string Format = "reparo-influence/1";

    private static readonly byte[] Magic = [(byte)'R', (byte)'E', (byte)'P', (byte)'I', (byte)'N', (byte)'F', (byte)'L', 0];

    private sealed record ArrayEntry(string Name, string Type, long Count, long Offset);

    private sealed record MixtureFit(int Iterations, bool Converged, double MeanLogLikelihood);

    private sealed record Header(string Format, string TrainingData, int ClassCount, InfluenceBuildReport Report, MixtureFit Mixture,
        IReadOnlyList<ArrayEntry> Arrays, string PayloadSha256);

    /// <summary>Writes <paramref name="model"/> to <paramref name="path"/> atomically.</summary>
    public static void Write(InfluenceModel model, string path)
    {
        var payload = new MemoryStream();
        var arrays = new List<ArrayEntry>();
        void Add<T>(string name, string type, T[] values) where T : unmanaged
        {
            arrays.Add(new ArrayEntry(name, type, values.Length, payload.Position));
            payload.Write(MemoryMarshal.AsBytes(values.AsSpan()));
        }
        StateAbstraction a = model.Abstraction;
        TraceSet t = model.Training;
        Add("network", "uint8", ModelFile.ToBytes(model.Network));
        Add("pca.mean", "float64", a.Pca.Mean);
        Add("pca.components", "float64", a.Pca.Components);
        Add("pca.variance", "float64", a.Pca.ExplainedVariance);
        Add("mixture.weights", "float64", a.Mixture.Weights);
        Add("mixture.means", "float64", a.Mixture.Means);
        Add("mixture.variances", "float64", a.Mixture.Variances);
        Add("visits", "int64", a.VisitCounts);
        Add("traces.lengths", "int32", t.Lengths);
        Add("traces.states", "int32", t.States);
        Add("traces.labels", "int32", t.StepLabels);
        Add("traces.symbols", "int32", t.Symbols);
        Add("traces.predictions", "int64", t.Predictions);
        Add("traces.truth", "int64", t.Labels);
        var entries = model.Index.Entries.OrderBy(e => e.Key.PreviousState).ThenBy(e => e.Key.PreviousLabel).ThenBy(e => e.Key.Symbol)
            .ThenBy(e => e.Key.Label).ThenBy(e => e.Key.State).ToArray();
        Add("index.keys", "int32", entries.SelectMany(e => new[] { e.Key.PreviousState, e.Key.PreviousLabel, e.Key.Symbol, e.Key.Label, e.Key.State }).ToArray());
        Add("index.counts", "int32", entries.Select(e => e.Value.Length).ToArray());
        Add("index.ids", "int32", entries.SelectMany(e => e.Value).ToArray());

        byte[] payloadBytes = payload.ToArray();
        var header = new Header(Format, model.TrainingData, a.ClassCount, model.Report,
            new MixtureFit(a.Mixture.Iterations, a.Mixture.Converged, a.Mixture.MeanLogLikelihood), arrays,
            FramedFile.Checksum(payloadBytes));
        byte[] file = FramedFile.Compose(Magic, header, payloadBytes);
        AtomicFile.WriteAllBytes(path, file);
    }

    /// <summary>Reads an influence model file.</summary>
    public static InfluenceModel Read(string path)
    {
        if (!File.Exists(path)) throw new ReparoInputException($"{path}: influence model file not found");
        byte[] file = File.ReadAllBytes(path);
        (Header? header, ArraySegment<byte> segment) = FramedFile.Open<Header>(file, Magic, path, "a Reparo influence model", "influence model");
        if (header?.Arrays is null || header.Report is null || header.Mixture is null) throw new ReparoInputException($"{path}: influence model header is incomplete");
        if (header.Format != Format) throw new ReparoInputException($"{path}: unsupported influence model format '{header.Format}' (this version reads {Format})");
        byte[] payload = [.. segment];
        if (FramedFile.Checksum(payload) != header.PayloadSha256)
            throw new ReparoInputException($"{path}: influence model data is corrupt or truncated (checksum mismatch)");
        var table = new Dictionary<string, ArrayEntry>(StringComparer.Ordinal);
        foreach (ArrayEntry? entry in header.Arrays)
        {
            if (entry?.Name is null || !table.TryAdd(entry.Name, entry)) throw new ReparoInputException($"{path}: the array table has an unnamed or repeated entry ('{entry?.Name}')");
        }
        T[] Get<T>(string name, string type) where T : unmanaged
        {
            if (!table.TryGetValue(name, out ArrayEntry? entry)) throw new ReparoInputException($"{path}: array '{name}' is missing");
            if (entry.Type != type || entry.Count < 0 || entry.Offset < 0 || entry.Count > payload.Length
                || entry.Offset + entry.Count * System.Runtime.CompilerServices.Unsafe.SizeOf<T>() > payload.Length)
                throw new ReparoInputException($"{path}: array '{name}' is not {type} inside the file");
            return MemoryMarshal.Cast<byte, T>(payload.AsSpan((int)entry.Offset, (int)entry.Count * System.Runtime.CompilerServices.Unsafe.SizeOf<T>())).ToArray();
        }

        try
        {
            var pca = new Pca(Get<double>("pca.mean", "float64"), Get<double>("pca.components", "float64"), Get<double>("pca.variance", "float64"));
            var mixture = new GaussianMixture(Get<double>("mixture.weights", "float64"), Get<double>("mixture.means", "float64"),
                Get<double>("mixture.variances", "float64"), header.Mixture.Iterations, header.Mixture.Converged, header.Mixture.MeanLogLikelihood);
            var abstraction = new StateAbstraction(pca, mixture, Get<long>("visits", "int64"), header.ClassCount);
            var traces = new TraceSet(Get<int>("traces.lengths", "int32"), Get<int>("traces.states", "int32"), Get<int>("traces.labels", "int32"),
                Get<int>("traces.symbols", "int32"), Get<long>("traces.predictions", "int64"), Get<long>("traces.truth", "int64"));
            int[] keys = Get<int>("index.keys", "int32"), counts = Get<int>("index.counts", "int32"), ids = Get<int>("index.ids", "int32");
            if (keys.Length != 5L * counts.Length || counts.Any(c => c < 0) || counts.Sum(c => (long)c) != ids.Length) throw new ArgumentException("the index arrays disagree in size");
            if (ids.Any(id => id < 0 || id >= traces.Count)) throw new ArgumentException("the index names a training sample that is not in the file");
            int k = mixture.Components, classes = header.ClassCount;
            if (traces.States.Any(state => state > k) || traces.StepLabels.Any(label => label < 0 || label >= classes)
                || keys.Where((_, i) => i % 5 is 0 or 4).Any(state => state < 0 || state > k) || keys.Where((_, i) => i % 5 is 1 or 3).Any(label => label < 0 || label >= classes))
                throw new ArgumentException("an abstract state or label lies outside the model's states and classes");
            var entries = new KeyValuePair<Transition, int[]>[counts.Length];
            for (int i = 0, at = 0; i < counts.Length; at += counts[i], i++)
            {
                var key = new Transition(keys[5 * i], keys[5 * i + 1], keys[5 * i + 2], keys[5 * i + 3], keys[5 * i + 4]);
                entries[i] = new(key, ids[at..(at + counts[i])]);
            }
            InfluenceIndex index = InfluenceIndex.FromEntries(entries, ignoresSymbols: false);
            Network network = ModelFile.FromBytes(Get<byte>("network", "uint8"), $"{path} (embedded network)");
            return new InfluenceModel(network, abstraction, traces, index, header.Report, header.TrainingData ?? "", ownsNetwork: true);
        }
        catch (ArgumentException e)
        {
            throw new ReparoInputException($"{path}: inconsistent influence model ({e.Message})");
        }
    }
}
