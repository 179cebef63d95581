using System.Text.Json;
using Reparo.Models;
using Reparo.Tests.Cli;
using Reparo.Tests.Models;
using static TorchSharp.torch;

namespace Reparo.Tests.Docs;

/// <summary>docs/onnx.md's worked example, run as written on a model PyTorch exported.</summary>
public sealed class OnnxGuideTests
{
    private static string RepoRoot() => TestSupport.RepoRoot();

    private static string Guide() => File.ReadAllText(Path.Combine(RepoRoot(), "docs", "onnx.md")).ReplaceLineEndings("\n");

    /// <summary>The <c>reparo …</c> lines of the guide's bash block under "2. Repair with Reparo".</summary>
    private static string[][] Commands()
    {
        string guide = Guide();
        int section = guide.IndexOf("## 2. Repair with Reparo", StringComparison.Ordinal);
        int start = guide.IndexOf("```bash\n", section, StringComparison.Ordinal) + "```bash\n".Length;
        int end = guide.IndexOf("```", start, StringComparison.Ordinal);
        return [.. guide[start..end].Split('\n').Where(l => l.StartsWith("reparo ", StringComparison.Ordinal))
            .Select(l => l["reparo ".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries))];
    }

    [Fact]
    public void TheGuidesCommandsRepairAPyTorchExportVerifiedInOnnxRuntime()
    {
        TestSupport.Init();
        using TempFolder temp = TestSupport.TempFolder();
        string model = temp.File("model.onnx");
        File.Copy(Path.Combine(OnnxImportTests.Fixture("mlp"), "model.onnx"), model);
        byte[] before = File.ReadAllBytes(model);
        var files = new Dictionary<string, string> { ["model.onnx"] = model, ["fixed.onnx"] = temp.File("fixed.onnx"), ["repair.json"] = temp.File("repair.json") };
        string[][] commands = Commands();
        Assert.Equal(3, commands.Length);
        foreach (string[] command in commands)
        {
            string[] args = [.. command.Select(a => files.GetValueOrDefault(a, a)), "--threads", "2"];
            (int code, string output, string error) = CliRunner.Run(args);
            Assert.True(code == 0, $"reparo {string.Join(' ', command)} exited {code}: {error}{output}");
        }
        Assert.Equal(before, File.ReadAllBytes(model));
        using JsonDocument json = JsonDocument.Parse(File.ReadAllText(files["repair.json"]));
        Assert.True(json.RootElement.GetProperty("verified").GetBoolean());
        Assert.True(json.RootElement.GetProperty("verified_onnxruntime").GetBoolean());
        Assert.True(json.RootElement.GetProperty("onnxruntime_min_margin").GetDouble() > 0);

        // The C# part: ONNX Runtime on the written file agrees with Reparo's reading of it.
        (Tensor input, _) = OnnxImportTests.Reference("mlp");
        float[] pixels = input[0].contiguous().data<float>().ToArray();
        float[] logits = OnnxGuideExample.Run(files["fixed.onnx"], pixels);
        Network repaired = ModelFile.Load(files["fixed.onnx"]);
        float[] ours = repaired.Logits(input.narrow(0, 0, 1).unsqueeze(1)).data<float>().ToArray();
        Assert.Equal(ours.Length, logits.Length);
        Assert.True(ours.Zip(logits).All(p => Math.Abs(p.First - p.Second) <= 1e-5), "ONNX Runtime and Reparo disagree on the repaired file");
    }

    [Fact]
    public void TheGuideShowsExactlyTheCompiledSnippet()
    {
        string[] source = File.ReadAllLines(Path.Combine(RepoRoot(), "tests", "Reparo.Tests", "Docs", "OnnxGuideExample.cs"));
        string Region(string marker)
        {
            int start = Array.FindIndex(source, l => l.Trim() == $"// README:{marker}") + 1;
            int end = Array.FindIndex(source, start, l => l.Trim() == "// README:end");
            string[] region = source[start..end];
            int indent = region.Where(l => l.Trim().Length > 0).Min(l => l.Length - l.TrimStart().Length);
            return string.Join("\n", region.Select(l => l.Length >= indent ? l[indent..] : l.Trim()));
        }
        Assert.Contains("```csharp\n" + Region("usings") + "\n\n" + Region("body") + "\n```", Guide());
    }
}
