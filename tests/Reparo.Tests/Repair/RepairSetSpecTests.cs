using Reparo.Data;
using Reparo.Models;
using Reparo.Repair;
using Reparo.Tests.Data;
using SkiaSharp;

namespace Reparo.Tests.Repair;

public class RepairSetSpecTests
{
    private const int N = 40;

    [Fact]
    public void AnyFormTakesTheFirstCorruptedTestImagesWhateverTheModelPredicts()
    {
        // An untrained digits model gets a few of the corrupted images right and most wrong.
        DataSplits splits = DataCatalog.Load("digits");
        Network network = ModelZoo.Create("mlp:16x3", splits.Train, seed: 5);

        RepairProblem any = RepairSetSpec.Build($"gaussian-noise:3:{N}:any", network, splits, 0);
        RepairProblem failures = RepairSetSpec.Build($"gaussian-noise:3:{N}", network, splits, 0);

        IReadOnlyList<RepairRegion> regions = any.RepairSet.Regions;
        Assert.Equal(N, regions.Count);
        Assert.Equal($"gaussian-noise:3:{N}:any", any.RepairSet.Description);
        for (int i = 0; i < N; i++) Assert.True(regions[i].Counterpart!.SameAs(splits.Test.X.narrow(0, i, 1)), $"region {i} is not test image {i}");
        bool[] correct = [.. regions.Select(r => network.Predict(r.Vertices)[0] == r.Label)];
        Assert.Contains(true, correct);
        Assert.Contains(false, correct);
        Assert.All(failures.RepairSet.Regions, r => Assert.NotEqual(r.Label, network.Predict(r.Vertices)[0]));
        Assert.NotEqual(regions.Select(r => r.Id), failures.RepairSet.Regions.Select(r => r.Id));

        // Held out as for the failures form: the clean test set and the rest of the corrupted one, without the repair images.
        int[] repairSources = [.. splits.Test.SourceIndices.Take(N)];
        Assert.Equal(splits.Test.Count - N, any.Drawdown.Count);
        Assert.Equal(splits.Test.Count - N, any.Generalization!.Count);
        Assert.Empty(any.Drawdown.SourceIndices.Intersect(repairSources));
        Assert.Empty(any.Generalization.SourceIndices.Intersect(repairSources));
    }

    /// <summary>
    /// <c>failures:N</c> takes the first N test inputs the model gets wrong, as they are, on any data: here a table (CSV),
    /// which corruption repair sets refuse. Drawdown is held out on the rest of the test set, generalisation on the other
    /// failures.
    /// </summary>
    [Fact]
    public void FailuresFormTakesTheFirstMisclassifiedTestInputsOfAnyData()
    {
        using var dir = TestSupport.TempFolder();
        var random = new Random(1);
        string csv = dir.File("table.csv");
        File.WriteAllLines(csv, ["a,b,c,label", .. Enumerable.Range(0, 300).Select(i => FormattableString.Invariant($"{random.NextDouble():F4},{random.NextDouble():F4},{random.NextDouble():F4},k{i % 3}"))]);
        DataSplits splits = DataCatalog.Load($"csv:{csv}");
        Network network = ModelZoo.Create("mlp:8x1", splits.Train, seed: 2);
        long[] predicted = network.Predict(splits.Test.X), labels = splits.Test.Labels();
        int[] wrong = [.. Enumerable.Range(0, labels.Length).Where(i => predicted[i] != labels[i])];
        Assert.True(wrong.Length > 5, $"{wrong.Length} failures");

        RepairProblem problem = RepairSetSpec.Build("failures:5", network, splits, 0);

        Assert.Equal(5, problem.RepairSet.Regions.Count);
        for (int r = 0; r < 5; r++)
        {
            Assert.True(problem.RepairSet.Regions[r].Vertices.equal(splits.Test.X.narrow(0, wrong[r], 1)).all().item<bool>(), $"region {r} is not failure {r}");
            Assert.Equal(labels[wrong[r]], problem.RepairSet.Regions[r].Label);
        }
        Assert.Equal(splits.Test.Count - 5, problem.Drawdown.Count);
        Assert.Empty(problem.Drawdown.SourceIndices.Intersect(wrong[..5].Select(i => splits.Test.SourceIndices[i])));
        Assert.Equal([.. wrong[5..].Select(i => splits.Test.SourceIndices[i])], problem.Generalization!.SourceIndices);
        Assert.Contains("corruption repair sets need image data", Assert.Throws<ReparoInputException>(() => RepairSetSpec.Build("fog:3:5", network, splits, 0)).Message);
        Assert.Equal($"the model gets only {wrong.Length} of {labels.Length} test inputs wrong; ask for at most that many (failures:1000)",
            Assert.Throws<ReparoInputException>(() => RepairSetSpec.Build("failures:1000", network, splits, 0)).Message);
    }

    /// <summary>
    /// <c>folder:PATH</c> takes the user's own images as repair points: <c>CLASS/*.png</c> labelled by class name or
    /// index, decoded and resized as the data's folder images are (here the model's recorded resizing), named by their
    /// files; colour for a gray model, or a size the model does not read, is one line.
    /// </summary>
    [Fact]
    public void FolderFormTakesTheUsersImagesResizedAsTheDataIs()
    {
        using var dir = TestSupport.TempFolder();
        foreach (string part in new[] { "train", "test" })
        {
            for (int i = 0; i < 4; i++)
            {
                UserDataFiles.Image(Path.Combine(dir.Path, "data", part, "dark", $"{i}.png"), 12, 10, (x, y) => new SKColor((byte)(10 * i), (byte)(10 * i), (byte)(10 * i)));
                UserDataFiles.Image(Path.Combine(dir.Path, "data", part, "light", $"{i}.png"), 10, 12, (x, y) => new SKColor((byte)(200 + i), (byte)(200 + i), (byte)(200 + i)));
            }
        }
        var resizing = new ImageResizing(new ImageSize(8), new ImageSize(6));
        DataSplits splits = DataCatalog.Load($"folder:{Path.Combine(dir.Path, "data")}", new DataOptions { ImageResizing = resizing });
        Assert.Equal([1L, 6, 6], splits.Test.SampleShape);
        Network network = ModelZoo.Create("mlp:8x1", splits.Train, seed: 2);
        string fix = Path.Combine(dir.Path, "fix");
        UserDataFiles.Image(Path.Combine(fix, "light", "a.png"), 30, 20, (x, y) => new SKColor((byte)(5 * x), (byte)(5 * x), (byte)(5 * x)));
        UserDataFiles.Image(Path.Combine(fix, "0", "b.png"), 9, 9, (x, y) => new SKColor(90, 90, 90));

        RepairProblem problem = RepairSetSpec.Build($"folder:{fix}", network, splits, 0);

        Assert.Equal([0L, 1L], problem.RepairSet.Regions.Select(r => r.Label)); // sub-folders in ordinal order: "0", then "light"
        Assert.Equal(["folder:fix#0/b.png", "folder:fix#light/a.png"], problem.RepairSet.Regions.Select(r => r.Id).Order());
        // a.png (30 wide, 20 high) resized to 12 × 8 then cropped to 6 × 6, as the data is, from its decoded bytes.
        byte[] decoded = [.. Enumerable.Range(0, 20 * 30).SelectMany(p => Enumerable.Repeat((byte)(5 * (p % 30)), 3))];
        byte[] expected = resizing.Apply(decoded, 20, 30, 3);
        RepairRegion light = problem.RepairSet.Regions.Single(r => r.Label == 1);
        Assert.Equal(Enumerable.Range(0, 36).Select(p => expected[3 * p] / 255f), light.Vertices[0].flatten().data<float>().ToArray());
        Assert.Equal(splits.Test.Count, problem.Drawdown.Count);
        Assert.Null(problem.Generalization);

        UserDataFiles.Image(Path.Combine(fix, "light", "red.png"), 9, 9, (x, y) => new SKColor(200, 0, 0));
        Assert.Contains("colour images, but the model reads one channel", Assert.Throws<ReparoInputException>(() => RepairSetSpec.Build($"folder:{fix}", network, splits, 0)).Message);
        File.Delete(Path.Combine(fix, "light", "red.png"));
        Directory.CreateDirectory(Path.Combine(fix, "grey"));
        Assert.Contains("'grey' is neither a class of the model (dark, light) nor a class index", Assert.Throws<ReparoInputException>(() => RepairSetSpec.Build($"folder:{fix}", network, splits, 0)).Message);
        Directory.Delete(Path.Combine(fix, "grey"));
        File.Delete(Path.Combine(fix, "light", "a.png"));
        DataSplits unresized = splits with { ImageResizing = null };
        Assert.Contains("images of shape [1,9,9], but the model reads [1,6,6]; resize them", Assert.Throws<ReparoInputException>(() => RepairSetSpec.Build($"folder:{fix}", network, unresized, 0)).Message);
    }

    /// <summary>
    /// <c>csv:PATH</c> takes the user's own rows as repair points: read as the data's CSV is (header, label column by
    /// name), features in the model's input shape, labels by the model's class names or as class indices; drawdown on
    /// the whole clean test set, no generalisation set; a label that is no class, or rows of another width, is one line.
    /// </summary>
    [Fact]
    public void CsvFormTakesTheUsersRowsLabelledByClassNameOrIndex()
    {
        using var dir = TestSupport.TempFolder();
        var random = new Random(2);
        string data = dir.File("table.csv"), rows = dir.File("rows.csv");
        File.WriteAllLines(data, ["a,b,c,label", .. Enumerable.Range(0, 90).Select(i => FormattableString.Invariant($"{random.NextDouble():F4},{random.NextDouble():F4},{random.NextDouble():F4},k{i % 3}"))]);
        File.WriteAllLines(rows, ["label,a,b,c", "k2,0.5,0.25,1", "0,1,2,3\r"]);
        DataSplits splits = DataCatalog.Load($"csv:{data}");
        Network network = ModelZoo.Create("mlp:8x1", splits.Train, seed: 2);

        RepairProblem problem = RepairSetSpec.Build($"csv:{rows}", network, splits, 0);

        Assert.Equal([2L, 0L], problem.RepairSet.Regions.Select(r => r.Label));
        Assert.Equal(["rows.csv:2", "rows.csv:3"], problem.RepairSet.Regions.Select(r => r.Id));
        Assert.Equal([0.5f, 0.25f, 1f], problem.RepairSet.Regions[0].Vertices[0].data<float>().ToArray());
        Assert.Equal([1f, 2f, 3f], problem.RepairSet.Regions[1].Vertices[0].data<float>().ToArray());
        Assert.Equal(splits.Test.Count, problem.Drawdown.Count);
        Assert.Null(problem.Generalization);
        File.WriteAllLines(rows, ["a,b,c,label", "0.5,0.25,1,k7"]);
        Assert.Contains("label 'k7' is neither a class of the model (k0, k1, k2) nor a class index", Assert.Throws<ReparoInputException>(() => RepairSetSpec.Build($"csv:{rows}", network, splits, 0)).Message);
        File.WriteAllLines(rows, ["0.5,1,k1"]);
        Assert.Contains("rows of 2 features; the model reads features of shape [3]", Assert.Throws<ReparoInputException>(() => RepairSetSpec.Build($"csv:{rows}", network, splits, 0)).Message);
    }

    [Fact]
    public void TokenDataIsRefusedWithWhatToDoInstead()
    {
        DataSplits splits = DataCatalog.Load("fortunes:computers,love");
        Network network = ModelZoo.Create("text:8", splits.Train, seed: 1);

        string message = Assert.Throws<ReparoInputException>(() => RepairSetSpec.Build("failures:3", network, splits, 0)).Message;

        Assert.StartsWith($"{splits.Test.Name} holds token sequences, and every repair method edits weights from floating-point inputs", message, StringComparison.Ordinal);
        Assert.Contains("(reparo explain takes it, and reparo influence a recurrent one)", message);
    }

    [Theory]
    [InlineData("gaussian-noise:3:10:bogus", "'bogus' in 'gaussian-noise:3:10:bogus' should be 'any'")]
    [InlineData("gaussian-noise:3:100000:any", "ask for at most that many")]
    [InlineData("gaussian-noise:3:10:any:more", "unknown repair set")]
    public void BadAnyFormIsAOneLineInputError(string spec, string expected)
    {
        DataSplits splits = DataCatalog.Load("digits");
        Network network = ModelZoo.Create("mlp:16x3", splits.Train, seed: 5);

        string message = Assert.Throws<ReparoInputException>(() => RepairSetSpec.Build(spec, network, splits, 0)).Message;

        Assert.Contains(expected, message);
        Assert.DoesNotContain('\n', message);
    }
}
