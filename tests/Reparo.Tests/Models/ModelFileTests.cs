using Reparo.Data;
using Reparo.Models;
using static TorchSharp.torch;

namespace Reparo.Tests.Models;

public class ModelFileTests
{
    [Theory]
    [InlineData("mlp:30x3", false)]
    [InlineData("cnn", false)]
    [InlineData("lstm:8", false)]
    [InlineData("vit", false)]
    [InlineData("gru:8", true)]
    [InlineData("text:8", true)]
    public void ReloadedModelGivesBitIdenticalOutputs(string arch, bool tokens)
    {
        using var dir = TestSupport.TempFolder();
        Dataset data = tokens ? TestSupport.RandomTokens(5) : TestSupport.RandomImages(5);
        using Network network = ModelZoo.Create(arch, data, seed: 3);
        network.Provenance = new ModelProvenance { Data = "random", SplitSeed = 4, History = ["made in a test"] };
        ModelFile.Save(network, dir.File("m.reparo"));
        using Network loaded = ModelFile.Load(dir.File("m.reparo"));
        Assert.Equal(network.Spec.Architecture, loaded.Spec.Architecture);
        Assert.Equal(network.Layers.Select(l => l.Spec), loaded.Layers.Select(l => l.Spec));
        Assert.Equal(4, loaded.Provenance.SplitSeed);
        Assert.Equal(["made in a test"], loaded.Provenance.History);
        Tensor a = network.Logits(data.X), b = loaded.Logits(data.X);
        Assert.True(a.SameAs(b), "outputs must be bit-identical after a reload");
        if (tokens) Assert.Equal(network.Vocabulary!.Tokens, loaded.Vocabulary!.Tokens);
        Assert.DoesNotContain(Directory.GetFiles(dir.Path), f => f.EndsWith(".partial"));
    }

    [Fact]
    public void DefectiveFilesAreOneLineErrors()
    {
        using var dir = TestSupport.TempFolder();
        using Network network = ModelZoo.Create("mlp:10x2", TestSupport.RandomImages(2), 0);
        string path = dir.File("m.reparo");
        ModelFile.Save(network, path);
        byte[] good = File.ReadAllBytes(path);

        File.WriteAllBytes(dir.File("magic"), [.. "NOTAMODEL"u8.ToArray(), .. good[9..]]);
        Assert.Contains("not a Reparo model file", Assert.Throws<ReparoInputException>(() => ModelFile.Load(dir.File("magic"))).Message);

        File.WriteAllBytes(dir.File("short"), good[..^10]);
        Assert.Contains("checksum mismatch", Assert.Throws<ReparoInputException>(() => ModelFile.Load(dir.File("short"))).Message);

        byte[] flipped = (byte[])good.Clone();
        flipped[^3] ^= 0x40;
        File.WriteAllBytes(dir.File("flipped"), flipped);
        Assert.Contains("corrupt", Assert.Throws<ReparoInputException>(() => ModelFile.Load(dir.File("flipped"))).Message);

        File.WriteAllBytes(dir.File("header"), good[..20]);
        Assert.Contains("truncated model header", Assert.Throws<ReparoInputException>(() => ModelFile.Load(dir.File("header"))).Message);

        Assert.Contains("model file not found", Assert.Throws<ReparoInputException>(() => ModelFile.Load(dir.File("none"))).Message);
        Assert.Equal(good, File.ReadAllBytes(path));
    }
}
