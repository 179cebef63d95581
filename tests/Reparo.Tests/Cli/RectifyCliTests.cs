using System.Security.Cryptography;
using System.Text.Json;
using Reparo.Models;
using Reparo.Tests.Reporting;

namespace Reparo.Tests.Cli;

public sealed class RectifyCliTests
{
    [Fact]
    public void RectifyRemovesATrojanAndReportsTheNamedFields()
    {
        using TempFolder folder = TestSupport.TempFolder();
        string model = folder.File("trojan.reparo"), fixedModel = folder.File("fixed.reparo"), json = folder.File("r.json"), report = folder.File("r.html");
        (int trained, _, string trainErr) = CliRunner.Run("train", "--data", "digits", "--arch", "mlp:64x3", "--epochs", "40", "--lr", "3e-3", "--patience", "0",
            "--poison", "badnets:0.1:0", "--out", model);
        Assert.True(trained == 0, trainErr);
        byte[] before = SHA256.HashData(File.ReadAllBytes(model));

        (int code, string output, string err) = CliRunner.Run("rectify", "--model", model, "--data", "digits", "--pairs", "trojan:1", "--mode", "static",
            "--preserve-clean", "--out", fixedModel, "--json", json, "--report", report);
        Assert.True(code == 0, err);
        // The report: the summary first, and IG heatmaps of the pair's clean and corrupted input before and after.
        string html = File.ReadAllText(report);
        Assert.Contains("What was wrong: in the model (poisoned with badnets:0.1:0), triggered test inputs went to the attack&#39;s target", html);
        Assert.Contains("What changed: static rectification from 1 cleansed pair edited fc2", html);
        foreach (string caption in new[] { "clean, before: predicted", "clean, after: predicted", "corrupted, before: predicted 0", "corrupted, after: predicted" })
            Assert.Contains(caption, html);
        Browser.AssertRendersCleanly(report, minimumImages: 4);
        Assert.Contains("attack success rate", output);
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        JsonElement r = doc.RootElement;
        Assert.Equal(["fc2"], r.GetProperty("layers").EnumerateArray().Select(e => e.GetString()));
        double asrBefore = r.GetProperty("asr_before").GetDouble(), asrAfter = r.GetProperty("asr_after").GetDouble();
        Assert.True(asrBefore > 0.8 && asrAfter < 0.2, $"ASR {asrBefore} → {asrAfter}");
        Assert.True(r.GetProperty("accuracy_before").GetDouble() - r.GetProperty("accuracy_after").GetDouble() < 0.01);
        Assert.True(r.GetProperty("time_s").GetDouble() > 0);
        Assert.Equal(4, r.GetProperty("after").GetProperty("asr_by_corner").EnumerateObject().Count());
        Assert.Contains("rectified", ModelFile.Load(fixedModel).Provenance.History[^1]);
        Assert.Equal(before, SHA256.HashData(File.ReadAllBytes(model)));

        // --layer auto (the default, dynamic mode) says which layer it chose and why.
        (int dynamic, string dynamicOutput, string dynamicErr) = CliRunner.Run("rectify", "--model", model, "--data", "digits", "--pairs", "trojan:1", "--max-rounds", "1");
        Assert.True(dynamic == 0, dynamicErr);
        Assert.Matches(@"round 1: layer auto chose fc\d, the most editable \(attribution its rank-one edit carries: fc\d", dynamicOutput);

        (int wrongKind, _, string kindErr) = CliRunner.Run("rectify", "--model", model, "--data", "digits", "--pairs", "spurious:1");
        Assert.Equal(2, wrongKind);
        Assert.Contains("do not fit", kindErr);
        Assert.Single(kindErr.Trim().Split('\n'));
        (int zero, _, _) = CliRunner.Run("rectify", "--model", model, "--data", "digits", "--pairs", "trojan:0");
        Assert.Equal(2, zero);
        (int overwrite, _, _) = CliRunner.Run("rectify", "--model", model, "--data", "digits", "--pairs", "trojan:1", "--out", model);
        Assert.Equal(2, overwrite);
        Assert.Equal(before, SHA256.HashData(File.ReadAllBytes(model)));
    }
}
