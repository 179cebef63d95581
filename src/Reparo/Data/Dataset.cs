using static TorchSharp.torch;

namespace Reparo.Data;

/// <summary>What the rows of a <see cref="Dataset"/> hold, which decides how models read them.</summary>
public enum InputKind
{
    /// <summary>Images as float32 (N, C, H, W) with pixel values in [0, 1].</summary>
    Image,

    /// <summary>Token-id sequences as int64 (N, T), left-padded with <see cref="Vocabulary.PadId"/>.</summary>
    Tokens,

    /// <summary>Plain feature vectors as float32 (N, F).</summary>
    Features,
}

/// <summary>
/// Inputs <see cref="X"/> and integer labels <see cref="Y"/> with their class names. The tensors are owned by the
/// dataset (detached from any dispose scope), so a dataset can be created inside a scope and outlive it.
/// </summary>
public sealed class Dataset
{
    /// <summary>Creates a dataset, checking that inputs and labels agree.</summary>
    public Dataset(string name, Tensor x, Tensor y, IReadOnlyList<string> classNames, InputKind kind,
        Vocabulary? vocabulary = null, IReadOnlyList<int>? sourceIndices = null, IReadOnlyList<string>? sourceNames = null)
    {
        if (x.shape.Length < 2) throw new ArgumentException($"inputs of '{name}' need a batch dimension, got shape [{string.Join(",", x.shape)}]");
        if (y.shape.Length != 1 || y.shape[0] != x.shape[0])
            throw new ArgumentException($"'{name}' has {x.shape[0]} inputs but labels of shape [{string.Join(",", y.shape)}]");
        if (y.dtype != ScalarType.Int64) throw new ArgumentException($"labels of '{name}' must be int64");
        if (kind == InputKind.Tokens && vocabulary is null) throw new ArgumentException($"token dataset '{name}' needs its vocabulary");
        Name = name;
        X = x.DetachFromDisposeScope();
        Y = y.DetachFromDisposeScope();
        ClassNames = classNames;
        Kind = kind;
        Vocabulary = vocabulary;
        SourceIndices = sourceIndices ?? Enumerable.Range(0, (int)x.shape[0]).ToArray();
        if (SourceIndices.Count != Count) throw new ArgumentException($"'{name}' has {Count} rows but {SourceIndices.Count} source indices");
        if (sourceNames is not null && SourceIndices.Any(i => i >= sourceNames.Count)) throw new ArgumentException($"'{name}' has source indices beyond its {sourceNames.Count} source names");
        SourceNames = sourceNames;
    }

    /// <summary>A short human-readable name, such as <c>fashion-mnist/test</c>.</summary>
    public string Name { get; }

    /// <summary>Inputs, one row per sample.</summary>
    public Tensor X { get; }

    /// <summary>Labels as int64 class indices.</summary>
    public Tensor Y { get; }

    /// <summary>Class names, indexed by label.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>How the inputs are laid out.</summary>
    public InputKind Kind { get; }

    /// <summary>For token datasets, the vocabulary that produced the ids.</summary>
    public Vocabulary? Vocabulary { get; }

    /// <summary>For each row, its index in the file or corpus it was read from (stable across subsets).</summary>
    public IReadOnlyList<int> SourceIndices { get; }

    /// <summary>
    /// Where each sample of the source came from, indexed by source index (an image's path in its folder, such as
    /// <c>train/cat/017.png</c>; a table's or a text file's <c>FILE:LINE</c>), or null when the source names none.
    /// </summary>
    public IReadOnlyList<string>? SourceNames { get; }

    /// <summary>Number of samples.</summary>
    public int Count => (int)X.shape[0];

    /// <summary>Shape of one sample (the input shape without the batch dimension).</summary>
    public long[] SampleShape => X.shape[1..];

    /// <summary>Number of classes.</summary>
    public int ClassCount => ClassNames.Count;

    /// <summary>What a person looks for to find row <paramref name="row"/>: its source name, else its source index.</summary>
    public string SourceName(int row) => SourceNames is { } names ? names[SourceIndices[row]] : SourceIndices[row].ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Labels as a managed array.</summary>
    public long[] Labels() => Y.data<long>().ToArray();

    /// <summary>The rows at <paramref name="indices"/> (in that order) as a new dataset.</summary>
    public Dataset Subset(IReadOnlyList<int> indices, string? name = null)
    {
        using var scope = NewDisposeScope();
        using var index = tensor(indices.Select(i => (long)i).ToArray(), ScalarType.Int64);
        return new Dataset(name ?? Name, X.index_select(0, index), Y.index_select(0, index), ClassNames, Kind, Vocabulary,
            indices.Select(i => SourceIndices[i]).ToArray(), SourceNames);
    }

    /// <summary>The same labels and metadata with other inputs of the same count (for corrupted or transformed copies).</summary>
    public Dataset WithInputs(Tensor x, string name)
    {
        if (x.shape[0] != Count) throw new ArgumentException($"'{name}' needs {Count} inputs, got {x.shape[0]}");
        return new Dataset(name, x, Y.clone(), ClassNames, Kind, Vocabulary, SourceIndices, SourceNames);
    }

    /// <summary>The same inputs with other labels (for poisoning or label-noise experiments).</summary>
    public Dataset WithLabels(Tensor y, string name) => new(name, X.clone(), y, ClassNames, Kind, Vocabulary, SourceIndices, SourceNames);

    /// <summary>Per-class sample counts.</summary>
    public int[] ClassCounts()
    {
        var counts = new int[ClassCount];
        foreach (long label in Labels()) counts[label]++;
        return counts;
    }
}

/// <summary>Train, validation and test parts of one data source.</summary>
/// <param name="Train">Samples to fit on.</param>
/// <param name="Validation">Samples for early stopping and model selection (carved from the training part).</param>
/// <param name="Test">Held-out samples for reporting.</param>
public sealed record DataSplits(Dataset Train, Dataset Validation, Dataset Test)
{
    /// <summary>Whether the source held 8-bit values (IDX, uint8 arrays, PNG/JPEG) that the reader divided by 255.</summary>
    public bool ByteInputs { get; init; }

    /// <summary>The name of each input feature (a CSV header's column names), or null when the source names none.</summary>
    public IReadOnlyList<string>? FeatureNames { get; init; }

    /// <summary>Where a table's labels come from, e.g. <c>column 1 of 785 ('label')</c>; null for other sources.</summary>
    public string? LabelColumn { get; init; }

    /// <summary>How a folder's images were resized and cropped as they were decoded (recorded with a trained model); null: not at all.</summary>
    public ImageResizing? ImageResizing { get; init; }

    /// <summary>
    /// The splits without the training and validation samples named in <paramref name="sources"/> (by
    /// <see cref="Dataset.SourceName"/>: an image's file, <c>FILE:LINE</c>, else the source index), and how many went.
    /// A name that is neither a training nor a validation sample is a one-line error, so a typo never trains on everything.
    /// </summary>
    public (DataSplits Splits, int Excluded) Excluding(IReadOnlyCollection<string> sources)
    {
        var wanted = sources.ToHashSet(StringComparer.Ordinal);
        var found = new HashSet<string>(StringComparer.Ordinal);
        Dataset Keep(Dataset part)
        {
            var kept = new List<int>(part.Count);
            for (int i = 0; i < part.Count; i++)
            {
                string name = part.SourceName(i);
                if (wanted.Contains(name)) found.Add(name);
                else kept.Add(i);
            }
            return kept.Count == part.Count ? part : part.Subset(kept);
        }
        Dataset train = Keep(Train), validation = Keep(Validation);
        string? unknown = sources.FirstOrDefault(name => !found.Contains(name));
        if (unknown is not null)
            throw new ReparoInputException($"'{unknown}' is not a training or validation sample of {Train.Name} (samples are named as influence suspects names them: {Train.SourceName(0)}, …)");
        if (train.Count == 0) throw new ReparoInputException($"excluding {found.Count} samples leaves no training sample");
        return (this with { Train = train, Validation = validation }, Train.Count - train.Count + Validation.Count - validation.Count);
    }
}
