using System.CommandLine;
using Reparo.Data;
using Reparo.Reporting;
using Spectre.Console;

namespace Reparo.Cli.Commands;

/// <summary><c>reparo data show DATA</c>: sizes, classes and (for images) an optional PNG grid of samples.</summary>
internal static class DataCommand
{
    private sealed record ClassCount(string Name, int Train, int Validation, int Test);

    private sealed record DataReport(string Data, string Kind, long[] SampleShape, int Train, int Validation, int Test,
        IReadOnlyList<ClassCount> Classes, int? VocabularySize, int? SequenceLength, string? Png, string? LabelColumn, IReadOnlyList<string>? FeatureNames);

    public static Command Create(CliContext cli)
    {
        var spec = new Argument<string>("data") { Description = $"Data: {DataCatalog.SpecHelp}" };
        var png = new Option<string?>("--png") { Description = "Write a grid of test samples (images only) to this PNG file", HelpName = "PATH" };
        var count = new Option<int>("--count") { Description = "Samples in the grid", DefaultValueFactory = _ => 40 };
        var dataDir = new Option<string?>("--data-dir") { Description = "Folder searched first for dataset files", HelpName = "DIR" };
        var splitSeed = new Option<int>("--split-seed") { Description = "Seed of the train/validation/test split", DefaultValueFactory = _ => 0 };
        var resize = new Option<string?>("--resize") { Description = "folder: data: resize every image as torchvision's Resize does: N sets the shorter side, HxW an exact size", HelpName = "N|HxW" };
        var centerCrop = new Option<string?>("--center-crop") { Description = "folder: data: then crop the centre as torchvision's CenterCrop does: N or HxW", HelpName = "N|HxW" };
        var show = new Command("show", "Show a dataset's sizes and classes") { spec, png, count, dataDir, splitSeed, resize, centerCrop };
        show.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            string data = parse.GetValue(spec)!;
            DataSplits splits = DataCatalog.Load(data, new DataOptions
            {
                DataDir = parse.GetValue(dataDir),
                SplitSeed = parse.GetValue(splitSeed),
                ImageResizing = ImageResizing.Parse(parse.GetValue(resize), parse.GetValue(centerCrop)),
            });
            int[] train = splits.Train.ClassCounts(), validation = splits.Validation.ClassCounts(), test = splits.Test.ClassCounts();
            var classes = splits.Train.ClassNames.Select((n, c) => new ClassCount(n, train[c], validation[c], test[c])).ToArray();
            string? pngPath = parse.GetValue(png);
            if (pngPath is not null)
            {
                if (splits.Test.Kind != InputKind.Image) throw new ReparoInputException($"--png draws images; '{data}' holds {splits.Test.Kind.ToString().ToLowerInvariant()}");
                int n = parse.GetValue(count);
                if (n < 1) throw new ReparoInputException($"--count must be positive, got {n}");
                using var grid = splits.Test.X.narrow(0, 0, Math.Min(n, splits.Test.Count));
                ImageGrid.Write(pngPath, grid);
            }
            var table = new Table().AddColumns("class", "train", "validation", "test");
            foreach (ClassCount c in classes) table.AddRow(Markup.Escape(c.Name), c.Train.ToString(), c.Validation.ToString(), c.Test.ToString());
            table.AddRow("[bold]total[/]", splits.Train.Count.ToString(), splits.Validation.Count.ToString(), splits.Test.Count.ToString());
            run.Out.MarkupLine($"[bold]{Markup.Escape(data)}[/]: {splits.Test.Kind.ToString().ToLowerInvariant()} samples of shape {Markup.Escape($"[{string.Join(",", splits.Test.SampleShape)}]")}"
                + (splits.Train.Vocabulary is { } v ? $", vocabulary {v.Size}, sequence length {v.MaxLength}" : "")
                + (splits.LabelColumn is { } column ? Markup.Escape($", labels from {column}") : ""));
            run.Out.Write(table);
            if (pngPath is not null) run.Out.WriteLine($"sample grid written to {pngPath}");
            run.WriteJson(new DataReport(data, splits.Test.Kind.ToString().ToLowerInvariant(), splits.Test.SampleShape, splits.Train.Count,
                splits.Validation.Count, splits.Test.Count, classes, splits.Train.Vocabulary?.Size, splits.Train.Vocabulary?.MaxLength, pngPath, splits.LabelColumn, splits.FeatureNames));
            return CliApp.Success;
        });
        return new Command("data", "Look at datasets") { show };
    }
}
