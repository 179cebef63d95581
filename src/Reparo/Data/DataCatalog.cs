using static TorchSharp.torch;

namespace Reparo.Data;

/// <summary>How a data source is split and encoded.</summary>
public sealed record DataOptions
{
    /// <summary>A folder searched first for dataset files (<c>--data-dir</c>).</summary>
    public string? DataDir { get; init; }

    /// <summary>Seed of the train / validation / test split (kept with a trained model so evaluation sees the same split).</summary>
    public int SplitSeed { get; init; }

    /// <summary>Share of the training part held out for validation.</summary>
    public double ValidationFraction { get; init; } = 0.1;

    /// <summary>Share of a source without its own test set (text, CSV) held out for testing.</summary>
    public double TestFraction { get; init; } = 0.2;

    /// <summary>For text: encode with this vocabulary (a trained model's) instead of building one from the training part.</summary>
    public Vocabulary? Vocabulary { get; init; }

    /// <summary>For text without <see cref="Vocabulary"/>: a file of one token per line to use as the vocabulary (<c>--vocab</c>).</summary>
    public string? VocabularyPath { get; init; }

    /// <summary>
    /// The length token sequences are padded or cut to (an imported text model's fixed input length); null: the 95th
    /// percentile of the training documents' lengths. A <see cref="Vocabulary"/> given brings its own.
    /// </summary>
    public int? SequenceLength { get; init; }

    /// <summary>
    /// A model's classes: user data (<c>npz</c>, <c>folder</c>, <c>tsv</c>, <c>csv</c>) then maps its labels onto these instead of
    /// deriving classes from the data, so a test set holding only some classes keeps the model's indices.
    /// </summary>
    public IReadOnlyList<string>? ClassNames { get; init; }

    /// <summary>
    /// For <c>folder:</c> data: resize and crop every decoded image as torchvision's <c>Resize</c> and <c>CenterCrop</c>
    /// do (<c>--resize</c>, <c>--center-crop</c>); null: images are read at their size. Other sources refuse it.
    /// </summary>
    public ImageResizing? ImageResizing { get; init; }

    /// <summary>If set, keep only this many training samples (a seeded random subset), for quick runs.</summary>
    public int? TrainLimit { get; init; }

    /// <summary>If set, keep only the first this many test samples, for quick runs.</summary>
    public int? TestLimit { get; init; }
}

/// <summary>
/// Turns a data specification into train / validation / test datasets:
/// <c>fashion-mnist</c>, <c>wordnet:animal,plant</c>, <c>fortunes:computers,love</c>, <c>digits</c> (scikit-learn's
/// 8×8 digits as images), <c>csv:PATH</c> (numeric features, label in the last column) and the user's own data
/// (<see cref="UserData"/>): <c>npz:PATH</c>, <c>folder:PATH</c> and <c>tsv:PATH</c>.
/// </summary>
public static class DataCatalog
{
    /// <summary>Fashion-MNIST's class names, indexed by label.</summary>
    public static readonly IReadOnlyList<string> FashionMnistClasses =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>The data specifications this catalog understands, for help texts.</summary>
    public const string SpecHelp = "fashion-mnist | wordnet:CLASS,CLASS[,…] | fortunes:TOPIC,TOPIC[,…] | digits | csv:PATH | npz:PATH | folder:PATH | tsv:PATH";

    /// <summary>Loads and splits the source named by <paramref name="spec"/>.</summary>
    public static DataSplits Load(string spec, DataOptions? options = null)
    {
        options ??= new DataOptions();
        if (options.ValidationFraction is < 0 or >= 1) throw new ReparoInputException($"validation fraction must be in [0, 1), got {options.ValidationFraction}");
        if (options.TestFraction is <= 0 or >= 1) throw new ReparoInputException($"test fraction must be in (0, 1), got {options.TestFraction}");
        (string kind, string? argument) = SplitSpec(spec);
        if (options.ImageResizing is not null && kind != "folder")
            throw new ReparoInputException($"--resize and --center-crop resize the images of folder: data as they are decoded, not {spec}");
        DataSplits splits = kind switch
        {
            "fashion-mnist" => NoArgument(argument, spec, () => LoadFashionMnist(options)),
            "digits" => NoArgument(argument, spec, () => LoadDigits(options)),
            "wordnet" => LoadText(TextCorpus.ReadWordNet(Path.Combine(DataResolver.Locate(DataResolver.WordNet, options.DataDir), "data.noun"),
                ClassList(argument, spec)), options),
            "fortunes" => LoadText(TextCorpus.ReadFortunes(DataResolver.Locate(DataResolver.Fortunes, options.DataDir), ClassList(argument, spec)), options),
            "csv" => LoadCsv(PathArgument(argument, "csv", "table.csv"), options),
            "npz" => UserData.LoadNpz(PathArgument(argument, "npz", "data.npz"), options),
            "folder" => UserData.LoadFolder(PathArgument(argument, "folder", "images"), options),
            "tsv" => LoadText(TextCorpus.ReadTsv(PathArgument(argument, "tsv", "texts.tsv"), options.ClassNames), options),
            _ => throw new ReparoInputException($"unknown data '{spec}'; expected {SpecHelp}"),
        };
        return Limit(splits, options);
    }

    /// <summary>Reads Fashion-MNIST's training and test IDX files from the folder the resolver finds.</summary>
    public static (Dataset Train, Dataset Test) ReadFashionMnist(string? dataDir)
    {
        string folder = DataResolver.Locate(DataResolver.FashionMnist, dataDir);
        return (ReadIdxPair(folder, "train", "fashion-mnist/train"), ReadIdxPair(folder, "t10k", "fashion-mnist/test"));
    }

    private static Dataset ReadIdxPair(string folder, string prefix, string name)
    {
        string imagesPath = DataResolver.FindFile(folder, $"{prefix}-images-idx3-ubyte.gz")!;
        string labelsPath = DataResolver.FindFile(folder, $"{prefix}-labels-idx1-ubyte.gz")!;
        IdxReader.IdxArray images = IdxReader.ReadImages(imagesPath);
        byte[] labels = IdxReader.ReadLabels(labelsPath, images.Dimensions[0], FashionMnistClasses.Count);
        using var scope = NewDisposeScope();
        Tensor x = tensor(images.Data, ScalarType.Byte).reshape(images.Dimensions[0], 1, images.Dimensions[1], images.Dimensions[2])
            .to(ScalarType.Float32).div_(255f);
        Tensor y = tensor(labels, ScalarType.Byte).to(ScalarType.Int64);
        return new Dataset(name, x, y, FashionMnistClasses, InputKind.Image);
    }

    private static DataSplits LoadFashionMnist(DataOptions options)
    {
        (Dataset train, Dataset test) = ReadFashionMnist(options.DataDir);
        (Dataset fit, Dataset validation) = HoldOut(train, options.ValidationFraction, options.SplitSeed, "fashion-mnist");
        return new DataSplits(fit, validation, test) { ByteInputs = true };
    }

    private static DataSplits LoadDigits(DataOptions options)
    {
        string folder = DataResolver.Locate(DataResolver.Digits, options.DataDir);
        CsvTable table = CsvTable.Read(DataResolver.FindFile(folder, "digits.csv.gz")!);
        if (table.Features[0].Length != 64) throw new ReparoInputException($"digits: expected 64 pixel columns, found {table.Features[0].Length}");
        using var scope = NewDisposeScope();
        Tensor x = tensor(table.Features.SelectMany(r => r).ToArray()).reshape(table.Features.Length, 1, 8, 8).div_(16f);
        var all = new Dataset("digits", x, tensor(table.Labels.Select(l => (long)l).ToArray()), table.ClassNames, InputKind.Image);
        return SplitThreeWays(all, options, "digits");
    }

    private static DataSplits LoadCsv(string path, DataOptions options)
    {
        CsvTable table = CsvTable.Read(path);
        if (options.ClassNames is { } classes) table = table.OnClasses(classes, path);
        using var scope = NewDisposeScope();
        Tensor x = tensor(table.Features.SelectMany(r => r).ToArray()).reshape(table.Features.Length, table.Features[0].Length);
        string file = Path.GetFileName(path);
        var all = new Dataset($"csv:{file}", x, tensor(table.Labels.Select(l => (long)l).ToArray()), table.ClassNames, InputKind.Features,
            sourceNames: [.. table.LineNumbers.Select(line => FormattableString.Invariant($"{file}:{line}"))]);
        int width = table.Features[0].Length + 1;
        string column = $"column {table.LabelColumn + 1} of {width}" + (table.LabelName is { } name ? $" ('{name}')" : "");
        return SplitThreeWays(all, options, all.Name) with { FeatureNames = table.FeatureNames, LabelColumn = column };
    }

    private static DataSplits LoadText(TextCorpus corpus, DataOptions options)
    {
        string[][] tokens = corpus.Texts.Select(Tokenizer.Tokenize).ToArray();
        int[] order = Permutation(tokens.Length, options.SplitSeed);
        int testCount = (int)Math.Round(tokens.Length * options.TestFraction);
        int[] test = order[..testCount], rest = order[testCount..];
        int validationCount = (int)Math.Round(rest.Length * options.ValidationFraction);
        int[] validation = rest[..validationCount], train = rest[validationCount..];
        Vocabulary vocabulary = options.Vocabulary ?? (options.VocabularyPath is string vocabularyPath
            ? Vocabulary.Read(vocabularyPath, train.Select(i => tokens[i]), options.SequenceLength ?? 0)
            : Vocabulary.Build(train.Select(i => tokens[i]), maxLength: options.SequenceLength ?? 0));
        Dataset Encode(int[] rows, string part)
        {
            using var scope = NewDisposeScope();
            long[] ids = rows.SelectMany(i => vocabulary.Encode(tokens[i])).ToArray();
            Tensor x = tensor(ids, ScalarType.Int64).reshape(rows.Length, vocabulary.MaxLength);
            Tensor y = tensor(rows.Select(i => (long)corpus.Labels[i]).ToArray(), ScalarType.Int64);
            return new Dataset($"{corpus.Name}/{part}", x, y, corpus.ClassNames, InputKind.Tokens, vocabulary, rows, corpus.SourceNames);
        }
        return new DataSplits(Encode(train, "train"), Encode(validation, "validation"), Encode(test, "test"));
    }

    private static DataSplits SplitThreeWays(Dataset all, DataOptions options, string name)
    {
        int[] order = Permutation(all.Count, options.SplitSeed);
        int testCount = (int)Math.Round(all.Count * options.TestFraction);
        Dataset test = all.Subset(order[..testCount], $"{name}/test");
        (Dataset train, Dataset validation) = HoldOut(all.Subset(order[testCount..]), options.ValidationFraction, options.SplitSeed + 1, name);
        return new DataSplits(train, validation, test);
    }

    /// <summary>Splits <paramref name="data"/> into a training and a validation part (a seeded share <paramref name="fraction"/>).</summary>
    internal static (Dataset Train, Dataset Validation) HoldOut(Dataset data, double fraction, int seed, string name)
    {
        int[] order = Permutation(data.Count, seed);
        int validationCount = (int)Math.Round(data.Count * fraction);
        return (data.Subset(order[validationCount..], $"{name}/train"), data.Subset(order[..validationCount], $"{name}/validation"));
    }

    private static DataSplits Limit(DataSplits splits, DataOptions options)
    {
        Dataset train = splits.Train, test = splits.Test;
        if (options.TrainLimit is int trainLimit && trainLimit < train.Count)
        {
            if (trainLimit < 1) throw new ReparoInputException($"train limit must be positive, got {trainLimit}");
            train = train.Subset(Permutation(train.Count, options.SplitSeed + 2)[..trainLimit]);
        }
        if (options.TestLimit is int testLimit && testLimit < test.Count)
        {
            if (testLimit < 1) throw new ReparoInputException($"test limit must be positive, got {testLimit}");
            test = test.Subset(Enumerable.Range(0, testLimit).ToArray());
        }
        return splits with { Train = train, Test = test };
    }

    /// <summary>A seeded random permutation of 0..n-1 (Fisher–Yates over <see cref="Random"/>), the same on every platform.</summary>
    public static int[] Permutation(int n, int seed)
    {
        var order = Enumerable.Range(0, n).ToArray();
        new Random(seed).Shuffle(order);
        return order;
    }

    private static (string Kind, string? Argument) SplitSpec(string spec)
    {
        if (string.IsNullOrWhiteSpace(spec)) throw new ReparoInputException($"no data given; expected {SpecHelp}");
        int colon = spec.IndexOf(':');
        return colon < 0 ? (spec.Trim().ToLowerInvariant(), null) : (spec[..colon].Trim().ToLowerInvariant(), spec[(colon + 1)..]);
    }

    private static string[] ClassList(string? argument, string spec)
    {
        string[] classes = (argument ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (classes.Length < 2) throw new ReparoInputException($"'{spec}' needs at least two classes, as in wordnet:animal,plant");
        return classes;
    }

    private static string PathArgument(string? argument, string kind, string example) =>
        string.IsNullOrWhiteSpace(argument) ? throw new ReparoInputException($"{kind}: needs a path, as in {kind}:{example}") : argument;

    private static DataSplits NoArgument(string? argument, string spec, Func<DataSplits> load) =>
        argument is null ? load() : throw new ReparoInputException($"'{spec}' takes no argument");
}
