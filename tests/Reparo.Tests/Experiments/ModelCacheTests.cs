using Reparo.Data;
using Reparo.Experiments;
using Reparo.Models;

namespace Reparo.Tests.Experiments;

public sealed class ModelCacheTests
{
    [Fact]
    public void TrainsOnceThenLoadsAndRetrainsAnUnusableFile()
    {
        Dataset all = TestSupport.RandomImages(60, classes: 3, size: 6);
        var splits = new DataSplits(all.Subset(Enumerable.Range(0, 40).ToArray()), all.Subset(Enumerable.Range(40, 10).ToArray()), all.Subset(Enumerable.Range(50, 10).ToArray()));
        using TempFolder folder = TestSupport.TempFolder();
        var notes = new List<string>();
        var titles = new List<string>();
        var cache = new ModelCache(folder.Path, 2, (title, train) =>
        {
            titles.Add(title);
            return train(null);
        }, new Notes(notes));
        string name = ModelCache.FileName("test", "mlp:8x2", 1, 3);
        Assert.Equal("test-mlp-8x2-e1-s3.reparo", name);

        CachedModel trained = cache.LoadOrTrain(name, "mlp:8x2", 1, splits, "random", 3);
        Assert.False(trained.Reused);
        Assert.Equal(folder.File(name), trained.Path);
        Assert.Equal(["train mlp:8x2 (random)"], titles);
        Assert.Equal("random", trained.Network.Provenance.Data);
        Assert.Equal(3, trained.Network.Provenance.Seed);

        CachedModel loaded = cache.LoadOrTrain(name, "mlp:8x2", 1, splits, "random", 3);
        Assert.True(loaded.Reused);
        Assert.Single(titles);
        Assert.Equal(ModelFile.ToBytes(trained.Network), ModelFile.ToBytes(loaded.Network));

        File.WriteAllText(trained.Path, "not a model");
        CachedModel retrained = cache.LoadOrTrain(name, "mlp:8x2", 1, splits, "random", 3);
        Assert.False(retrained.Reused);
        Assert.Contains(notes, n => n.Contains("cached model unusable", StringComparison.Ordinal));
        Assert.Equal(2, titles.Count);
    }

    private sealed class Notes(List<string> lines) : IProgress<string>
    {
        public void Report(string value) => lines.Add(value);
    }
}
