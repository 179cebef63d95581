using Reparo.Data;

namespace Reparo.Tests.Data;

public class DataResolverTests
{
    private static readonly DataResolver.Layout Fake = new("fake-set", ["a.bin.gz", "b.bin"], "/nonexistent/system/fake-set",
        "install it with 'sudo apt-get install fake-set'");

    [Fact]
    public void MissingDatasetSaysWhereItLookedAndHowToGetIt()
    {
        using var dir = TestSupport.TempFolder();
        var e = Assert.Throws<ReparoInputException>(() => DataResolver.Locate(Fake, dir.Path));
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains("dataset 'fake-set' not found", e.Message);
        Assert.Contains(dir.Path, e.Message);
        Assert.Contains(DataResolver.UserCacheFolder, e.Message);
        Assert.Contains("/nonexistent/system/fake-set", e.Message);
        Assert.Contains("sudo apt-get install fake-set", e.Message);
        Assert.Contains("--data-dir", e.Message);
    }

    [Fact]
    public void FindsFilesInDataDirOrItsSubfolderWithOrWithoutGz()
    {
        using var dir = TestSupport.TempFolder();
        string sub = Path.Combine(dir.Path, "fake-set");
        Directory.CreateDirectory(sub);
        File.WriteAllText(Path.Combine(sub, "a.bin"), "x");
        Assert.Throws<ReparoInputException>(() => DataResolver.Locate(Fake, dir.Path));
        File.WriteAllText(Path.Combine(sub, "b.bin.gz"), "x");
        Assert.Equal(sub, DataResolver.Locate(Fake, dir.Path));
        Assert.Equal(Path.Combine(sub, "b.bin.gz"), DataResolver.FindFile(sub, "b.bin"));
    }

    [Fact]
    public void EnvironmentVariableIsSearched()
    {
        using var dir = TestSupport.TempFolder();
        File.WriteAllText(dir.File("a.bin.gz"), "x");
        File.WriteAllText(dir.File("b.bin"), "x");
        string? before = Environment.GetEnvironmentVariable(DataResolver.EnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable(DataResolver.EnvironmentVariable, dir.Path);
            Assert.Equal(dir.Path, DataResolver.Locate(Fake, null));
        }
        finally
        {
            Environment.SetEnvironmentVariable(DataResolver.EnvironmentVariable, before);
        }
    }

    [Fact]
    public void MissingDataDirIsAnError()
    {
        Assert.Contains("no such folder", Assert.Throws<ReparoInputException>(() => DataResolver.Locate(Fake, "/no/such/dir")).Message);
    }

    [Fact]
    public void UnknownDataSpecListsTheKnownOnes()
    {
        var e = Assert.Throws<ReparoInputException>(() => DataCatalog.Load("mnist-plus"));
        Assert.Contains("unknown data 'mnist-plus'", e.Message);
        Assert.Contains("fashion-mnist", e.Message);
    }

    [Fact]
    public void FashionMnistLoadsWithItsOfficialSizesAndDisjointSplits()
    {
        TestSupport.Init();
        DataSplits splits = DataCatalog.Load("fashion-mnist");
        Assert.Equal(54000, splits.Train.Count);
        Assert.Equal(6000, splits.Validation.Count);
        Assert.Equal(10000, splits.Test.Count);
        Assert.Equal([1L, 28, 28], splits.Test.SampleShape);
        Assert.Equal(1000, splits.Test.ClassCounts()[3]);
        Assert.Empty(splits.Train.SourceIndices.Intersect(splits.Validation.SourceIndices));
        Assert.InRange(splits.Train.X.max().item<float>(), 0.99f, 1f);
        Assert.Equal(0f, splits.Train.X.min().item<float>());
        // Test label of the first test image is Ankle boot (9), as in the official file.
        Assert.Equal(9, splits.Test.Labels()[0]);
        DataSplits again = DataCatalog.Load("fashion-mnist");
        Assert.Equal(splits.Validation.SourceIndices, again.Validation.SourceIndices);
        DataSplits other = DataCatalog.Load("fashion-mnist", new DataOptions { SplitSeed = 5 });
        Assert.NotEqual(splits.Validation.SourceIndices, other.Validation.SourceIndices);
    }
}
