using System.CommandLine;
using Reparo.Data;
using Reparo.Experiments;
using Reparo.Io;
using Reparo.Models;
using Reparo.Reporting;
using Reparo.Runtime;
using Reparo.Training;
using Spectre.Console;

namespace Reparo.Cli;

/// <summary>Options every command takes: <c>--json</c>, <c>--seed</c>, <c>--threads</c>, <c>--quiet</c>, <c>--onnx-output</c> (and <c>--help</c>, built in).</summary>
public sealed class GlobalOptions
{
    /// <summary>Where to write the command's result as JSON ("-" for stdout).</summary>
    public Option<string?> Json { get; } = new("--json")
    {
        Description = "Write the result as JSON to PATH ('-' for stdout; human output then goes to stderr)",
        HelpName = "PATH",
        Recursive = true,
    };

    /// <summary>Seed of every random choice.</summary>
    public Option<int> Seed { get; } = new("--seed")
    {
        Description = "Seed of every random choice (same seed and threads, same result)",
        DefaultValueFactory = _ => 0,
        Recursive = true,
    };

    /// <summary>Intra-op thread count for torch.</summary>
    public Option<int?> Threads { get; } = new("--threads")
    {
        Description = "Threads for tensor work (default: all processors)",
        Recursive = true,
    };

    /// <summary>For an ONNX model whose graph has several outputs: the one read as the class scores.</summary>
    public Option<string?> OnnxOutput { get; } = new("--onnx-output")
    {
        Description = "ONNX models with several graph outputs: the output that holds the class scores (default: the first; the others stay in a written file)",
        HelpName = "NAME",
        Recursive = true,
    };

    /// <summary>An ONNX model's class names in the order of its outputs, for a file that names none.</summary>
    public Option<string?> ClassNames { get; } = new("--class-names")
    {
        Description = "An ONNX model's classes in the order of its outputs, comma-separated, for a file that names none (a PyTorch export): data labels then map onto them by name, e.g. --class-names malignant,benign; a written-back model records them",
        HelpName = "A,B[,…]",
        Recursive = true,
    };

    /// <summary>How a command reads its model: <c>--onnx-output</c> and <c>--class-names</c>.</summary>
    public ModelLoadOptions ModelLoading(ParseResult parse) =>
        new(parse.GetValue(OnnxOutput), parse.GetValue(ClassNames) is string names ? [.. names.Split(',').Select(name => name.Trim())] : null);

    /// <summary>Silences progress: the live bars and the lines that report progress rather than results.</summary>
    public Option<bool> Quiet { get; } = new("--quiet", "-q")
    {
        Description = "No progress on stderr (bars with an ETA are drawn only on a terminal, for tasks over 2 s)",
        Recursive = true,
    };
}

/// <summary>What every command needs: where to write and the global options.</summary>
/// <param name="Io">The output streams.</param>
/// <param name="Options">The global options.</param>
public sealed record CliContext(CliIo Io, GlobalOptions Options)
{
    /// <summary>The command line's arguments, as given (recorded in reports so that a run can be repeated).</summary>
    public IReadOnlyList<string> Arguments { get; init; } = [];

    /// <summary>Starts a command: loads torch with the requested threads and returns the run's settings and consoles.</summary>
    public CommandRun Start(ParseResult parse)
    {
        OutputGuard.Check(parse);
        int? threads = parse.GetValue(Options.Threads);
        TorchRuntime.Initialize(threads);
        string? json = parse.GetValue(Options.Json);
        return new CommandRun(this, json, parse.GetValue(Options.Seed), TorchSharp.torch.get_num_threads(), Io.Human(json))
        {
            Quiet = parse.GetValue(Options.Quiet),
            ModelLoading = Options.ModelLoading(parse),
        };
    }
}

/// <summary>One command's settings and consoles.</summary>
/// <param name="Cli">The context it runs in.</param>
/// <param name="JsonPath">Where the JSON result goes, if anywhere.</param>
/// <param name="Seed">The seed.</param>
/// <param name="Threads">The thread count in effect.</param>
/// <param name="Out">Console for human-readable output.</param>
public sealed record CommandRun(CliContext Cli, string? JsonPath, int Seed, int Threads, IAnsiConsole Out)
{
    /// <summary>Whether progress is silenced (<c>--quiet</c>).</summary>
    public bool Quiet { get; init; }

    /// <summary>How an ONNX model is read (<c>--onnx-output</c>, <c>--class-names</c>).</summary>
    public ModelLoadOptions ModelLoading { get; init; } = new();

    /// <summary>Loads the model file at <paramref name="path"/> (a Reparo model or ONNX, read as <see cref="ModelLoading"/> says).</summary>
    public Network LoadModel(string path) => ModelFile.Load(path, ModelLoading);

    /// <summary>Writes the JSON result if <c>--json</c> was given.</summary>
    public void WriteJson<T>(T result)
    {
        if (JsonPath == "-")
        {
            Cli.Io.Stdout.WriteLine(ReparoJson.SerializeResult(result));
            Cli.Io.Stdout.Flush();
        }
        else if (JsonPath is not null)
        {
            AtomicFile.WriteAllText(JsonPath, ReparoJson.SerializeResult(result) + Environment.NewLine);
        }
    }

    /// <summary>Writes <paramref name="document"/> to <paramref name="path"/> with this run's provenance, if a path was given (<c>--report</c>).</summary>
    public void WriteReport(string? path, Reporting.ReportDocument document)
    {
        if (path is null) return;
        ReportFile.Write(path, document with { Provenance = ReportProvenance.Current(Cli.Arguments) });
        Out.WriteLine($"report written to {path}");
    }

    /// <summary>A one-line note on stderr.</summary>
    public void Note(string text) => Cli.Io.Note(text);

    /// <summary>Notes reported by library work, each written at once as a line on stderr; none with <c>--quiet</c>.</summary>
    public IProgress<string> Notes => Quiet ? NoNotes.Instance : new NoteLines(this);

    /// <summary>The trained-model cache in <paramref name="folder"/>, training with progress on stderr.</summary>
    public ModelCache Models(string folder) => new(folder, Threads, (title, train) => WithTrainingProgress(title, p => train(p)), Notes);

    /// <summary>
    /// Runs training work while showing its progress on stderr: on a terminal the trainer's own progress scope draws a
    /// live bar (<see cref="CliIo.ShowProgress"/>), elsewhere a line per epoch; nothing with <c>--quiet</c>.
    /// </summary>
    public T WithTrainingProgress<T>(string title, Func<IProgress<TrainingProgress>?, T> work) =>
        work(Quiet || Cli.Io.StderrIsTerminal ? null : new EpochLines(Cli.Io.Stderr, title));

    private sealed class NoteLines(CommandRun run) : IProgress<string>
    {
        public void Report(string value) => run.Note(value);
    }

    private sealed class EpochLines(TextWriter writer, string title) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress p)
        {
            if (p.Batch != p.Batches) return;
            writer.WriteLine($"{title}: epoch {p.Epoch}/{p.Epochs} loss {p.Loss:F4}");
        }
    }

    private sealed class NoNotes : IProgress<string>
    {
        public static readonly NoNotes Instance = new();

        public void Report(string value)
        {
        }
    }
}

/// <summary>The <c>--report PATH</c> option of the commands that write a report (HTML or Markdown by the extension).</summary>
public sealed class ReportArgument
{
    /// <summary><c>--report</c>.</summary>
    public Option<string?> Report { get; } = new("--report")
    {
        Description = "Write a report a person reads: one self-contained HTML file (.html: inline CSS and images, no network) or Markdown (.md); .json writes the same document as data",
        HelpName = "PATH.html",
    };

    /// <summary>Adds the option to <paramref name="command"/>.</summary>
    public void AddTo(Command command) => command.Options.Add(Report);

    /// <summary>The report path, checked before any work (a bad path is an input error), or null when none was asked for.</summary>
    public string? Read(ParseResult parse)
    {
        string? path = parse.GetValue(Report);
        if (path is not null) ReportFile.Check(path);
        return path;
    }
}

/// <summary>The data options shared by commands that read a dataset.</summary>
public sealed class DataArguments
{
    private readonly bool preprocessing;

    /// <summary>
    /// Creates the options; <paramref name="required"/> makes <c>--data</c> mandatory, and <paramref name="preprocessing"/>
    /// offers <c>--normalize</c>, <c>--channel-order</c> and <c>--scale</c> (for commands whose model applies them: one it
    /// loads or trains).
    /// </summary>
    public DataArguments(bool required = true, string? defaultData = null, bool preprocessing = true)
    {
        this.preprocessing = preprocessing;
        Data = new Option<string>("--data")
        {
            Description = $"Data: {DataCatalog.SpecHelp}",
            HelpName = "DATA",
            Required = required && defaultData is null,
        };
        if (defaultData is not null) Data.DefaultValueFactory = _ => defaultData;
    }

    /// <summary><c>--data</c>.</summary>
    public Option<string> Data { get; }

    /// <summary><c>--data-dir</c>.</summary>
    public Option<string?> DataDir { get; } = new("--data-dir") { Description = "Folder searched first for dataset files", HelpName = "DIR" };

    /// <summary><c>--split-seed</c>.</summary>
    public Option<int?> SplitSeed { get; } = new("--split-seed") { Description = "Seed of the train/validation/test split (default: the model's, else 0)" };

    /// <summary><c>--train-limit</c>.</summary>
    public Option<int?> TrainLimit { get; } = new("--train-limit") { Description = "Use only N training samples (seeded subset), for quick runs", HelpName = "N" };

    /// <summary><c>--vocab</c>.</summary>
    public Option<string?> Vocab { get; } = new("--vocab") { Description = "Text: a vocabulary file, one token per line (default: the model's, else built from the training part)", HelpName = "PATH" };

    /// <summary><c>--normalize</c>.</summary>
    public Option<string?> Normalize { get; } = new("--normalize") { Description = $"Subtract MEAN and divide by STD per channel before the model's first layer: {InputPreprocessing.NormalizeHelp} (part of the model, applied in its forward pass; data stays raw; recorded with a trained model)", HelpName = "MEAN:STD|train" };

    /// <summary><c>--channel-order</c>.</summary>
    public Option<string?> ChannelOrder { get; } = new("--channel-order") { Description = "Channel order the model reads: rgb (as images are decoded) or bgr (the model reorders raw inputs; recorded with a trained model)", HelpName = "rgb|bgr" };

    /// <summary><c>--scale</c>.</summary>
    public Option<double?> Scale { get; } = new("--scale") { Description = "Multiply inputs by F first, e.g. 0.00392156862745098 for float pixels in 0–255 (8-bit inputs are already ÷ 255; the model scales raw inputs; recorded with a trained model)", HelpName = "F" };

    /// <summary><c>--resize</c>.</summary>
    public Option<string?> Resize { get; } = new("--resize") { Description = "folder: data: resize every image as torchvision's Resize does (Pillow's antialiased bilinear): N sets the shorter side, keeping the aspect ratio; HxW an exact size (recorded with a trained model)", HelpName = "N|HxW" };

    /// <summary><c>--center-crop</c>.</summary>
    public Option<string?> CenterCrop { get; } = new("--center-crop") { Description = "folder: data: then crop the centre as torchvision's CenterCrop does: N (square) or HxW; a smaller image is padded with zeros (recorded with a trained model)", HelpName = "N|HxW" };

    /// <summary><c>--test-limit</c>.</summary>
    public Option<int?> TestLimit { get; } = new("--test-limit") { Description = "Use only the first N test samples, for quick runs", HelpName = "N" };

    /// <summary>Adds the options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        command.Options.Add(Data);
        command.Options.Add(DataDir);
        command.Options.Add(SplitSeed);
        command.Options.Add(TrainLimit);
        command.Options.Add(TestLimit);
        command.Options.Add(Vocab);
        command.Options.Add(Resize);
        command.Options.Add(CenterCrop);
        if (!preprocessing) return;
        command.Options.Add(Normalize);
        command.Options.Add(ChannelOrder);
        command.Options.Add(Scale);
    }

    /// <summary>
    /// The preprocessing the command line asks for (<c>--normalize</c>, <c>--channel-order</c>, <c>--scale</c>), if any;
    /// <c>--normalize train</c> takes its statistics from <paramref name="raw"/>'s training split.
    /// </summary>
    public InputPreprocessing? Preprocessing(ParseResult parse, DataSplits raw) => preprocessing
        ? InputPreprocessing.Parse(parse.GetValue(Normalize), parse.GetValue(ChannelOrder), parse.GetValue(Scale), raw.Train)
        : null;

    /// <summary>
    /// Loads the splits raw: the input preprocessing belongs to the model, which applies it in its forward pass. The
    /// preprocessing that applies (the model's record or, when it records none, the command line's:
    /// <see cref="InputPreprocessing.Resolve"/>) is checked to fit the data; a model that records none is given the
    /// command line's, so it applies it and a model saved from it keeps it. A model's vocabulary, classes
    /// and split seed are used when given, data for a model trained on block images is block-transformed the same way
    /// (<see cref="ModelInputs.PrepareSplits"/>), and data whose sample shape differs from the model's input, or whose
    /// classes are not the model's, is a one-line error naming both.
    /// </summary>
    public DataSplits Load(ParseResult parse, Models.Network? model = null)
    {
        string? vocabulary = parse.GetValue(Vocab);
        if (vocabulary is not null && model?.Vocabulary is not null) throw new ReparoInputException("the model carries its vocabulary; leave --vocab out");
        // A text model imported from ONNX records no vocabulary: its ids are the user's, so the file must name them.
        bool ownIds = model is { Spec.InputKind: InputKind.Tokens, Vocabulary: null };
        if (ownIds && vocabulary is null)
            throw new ReparoInputException("the model records no vocabulary (an ONNX export): give --vocab PATH, its tokens one per line in id order from id 2 (id 0 is padding, 1 unknown)");
        string spec = parse.GetValue(Data)!;
        DataSplits raw = DataCatalog.Load(spec, new DataOptions
        {
            DataDir = parse.GetValue(DataDir),
            SplitSeed = parse.GetValue(SplitSeed) ?? model?.Provenance.SplitSeed ?? 0,
            Vocabulary = model?.Vocabulary,
            VocabularyPath = vocabulary,
            SequenceLength = ownIds ? (int)model!.Spec.InputShape[0] : null,
            // An imported model that names no classes has 0…K-1; its data keeps its own names, in sorted order as
            // PyTorch's ImageFolder indexes them.
            ClassNames = model is null || model.Spec.SourceNames is not null && model.Spec.ClassNames.SequenceEqual(Enumerable.Range(0, model.ClassCount).Select(i => i.ToString())) ? null : model.Spec.ClassNames,
            TrainLimit = parse.GetValue(TrainLimit),
            TestLimit = parse.GetValue(TestLimit),
            ImageResizing = Resizing(parse, spec, model?.Provenance.ImageResizing),
        });
        if (vocabulary is not null && raw.Test.Kind != InputKind.Tokens) throw new ReparoInputException($"--vocab is for text data, not {spec}");
        InputPreprocessing? preprocessing = InputPreprocessing.Resolve(model?.Provenance.Preprocessing, Preprocessing(parse, raw));
        if (raw.Test.Kind != InputKind.Tokens) preprocessing?.CheckFits(raw.Test.SampleShape);
        if (model is null) return raw;
        if (preprocessing is not null) model.Provenance = model.Provenance with { Preprocessing = preprocessing };
        DataSplits splits = ModelInputs.PrepareSplits(raw, model);
        long[] shape = splits.Test.SampleShape, input = model.Spec.InputShape;
        if (!shape.SequenceEqual(input))
        {
            bool otherImageSize = spec.StartsWith("folder:", StringComparison.Ordinal) && shape.Length == 3 && input.Length == 3 && !shape[1..].SequenceEqual(input[1..]);
            throw new ReparoInputException($"data shape [{string.Join(",", shape)}] does not match the model's input [{string.Join(",", input)}]"
                + (otherImageSize ? $"; resize the images as the model's PyTorch transform does with --resize and --center-crop (torchvision's Resize and CenterCrop), e.g. --resize {input[1]}x{input[2]} or --resize {input[1] * 8 / 7} --center-crop {input[1]}x{input[2]}" : ""));
        }
        Training.Trainer.CheckCompatible(model, splits.Test);
        return splits;
    }

    /// <summary>
    /// The image resizing for <paramref name="spec"/>: the command line's (other data than a folder refuses it when
    /// loaded), or, for folder data, the one the model records; a model that records one and a different command line
    /// is a one-line error.
    /// </summary>
    private ImageResizing? Resizing(ParseResult parse, string spec, ImageResizing? recorded)
    {
        ImageResizing? given = ImageResizing.Parse(parse.GetValue(Resize), parse.GetValue(CenterCrop));
        if (!spec.StartsWith("folder:", StringComparison.Ordinal)) return given;
        if (given is not null && recorded is not null && given != recorded)
            throw new ReparoInputException($"the model records the image resizing {recorded}; the command line asks for {given}; leave --resize and --center-crop out");
        return given ?? recorded;
    }
}
