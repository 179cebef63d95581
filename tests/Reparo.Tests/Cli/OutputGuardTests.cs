using System.Security.Cryptography;
using Reparo.Data;
using Reparo.Models;

namespace Reparo.Tests.Cli;

/// <summary>No path option writes over an input: not by its name, a symbolic link to it, or a path through a linked folder.</summary>
public sealed class OutputGuardTests
{
    [Fact]
    public void OutputsThatNameAnInputAreRefusedBeforeAnyWork()
    {
        using var dir = TestSupport.TempFolder();
        Dataset data = TestSupport.RandomImages(4, size: 8);
        string model = dir.File("m.reparo");
        using (Network network = ModelZoo.Create("mlp:4x1", data, seed: 0)) ModelFile.Save(network, model);
        byte[] before = SHA256.HashData(File.ReadAllBytes(model));
        File.CreateSymbolicLink(dir.File("link.reparo"), model);
        Directory.CreateDirectory(dir.File("real"));
        string moved = Path.Combine(dir.File("real"), "n.reparo");
        File.Copy(model, moved);
        Directory.CreateSymbolicLink(dir.File("alias"), dir.File("real"));

        string[][] cases =
        [
            ["eval", "--model", model, "--data", "digits", "--json", model],
            ["eval", "--model", model, "--data", "digits", "--json", dir.File("link.reparo")],
            ["eval", "--model", dir.File("link.reparo"), "--data", "digits", "--json", model],
            ["eval", "--model", moved, "--data", "digits", "--json", Path.Combine(dir.File("alias"), "n.reparo")],
            ["repair", "--method", "provable", "--model", model, "--data", "digits", "--repair-set", "fog:3:2", "--out", dir.File("link.reparo")],
            ["repair", "--method", "provable", "--model", model, "--data", "digits", "--repair-set", "fog:3:2", "--export-lp", model],
            ["repair", "--method", "provable", "--model", model, "--data", $"npz:{moved}", "--repair-set", "fog:3:2", "--report", Path.Combine(dir.File("alias"), "n.reparo")],
            ["eval", "--model", model, "--data", "digits", $"--json={model}"],
        ];
        foreach (string[] args in cases)
        {
            (int code, string output, string err) = CliRunner.Run(args);
            Assert.True(code == 2, $"{string.Join(' ', args)}: exit {code}, {err}");
            Assert.Contains("would overwrite the input", err);
            Assert.Single(err.Trim().Split('\n'));
            Assert.Equal("", output);
        }
        Assert.Equal(before, SHA256.HashData(File.ReadAllBytes(model)));
        Assert.Equal(before, SHA256.HashData(File.ReadAllBytes(moved)));
        Assert.Equal(["link.reparo", "m.reparo"], Directory.GetFiles(dir.Path).Select(Path.GetFileName).Order());
        Assert.Equal(["n.reparo"], Directory.GetFiles(dir.File("real")).Select(Path.GetFileName));
    }

    [Fact]
    public void AnOutputBesideTheInputsIsAllowed()
    {
        using var dir = TestSupport.TempFolder();
        Dataset data = TestSupport.RandomImages(4, size: 8);
        string model = dir.File("m.reparo");
        using (Network network = ModelZoo.Create("mlp:4x1", data, seed: 0)) ModelFile.Save(network, model);
        (int code, _, string err) = CliRunner.Run("inspect", model, "--json", dir.File("m.json"));
        Assert.True(code == 0, err);
        Assert.True(File.Exists(dir.File("m.json")));
    }
}
