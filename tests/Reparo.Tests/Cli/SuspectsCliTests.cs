using System.Globalization;
using System.Text.Json;
using Reparo.Models;
using Reparo.Tests.Data;
using SkiaSharp;

namespace Reparo.Tests.Cli;

/// <summary><c>reparo influence suspects</c> on the user's own data: the flipped labels come first, named where they are.</summary>
public sealed class SuspectsCliTests
{
    /// <summary>
    /// Two well-separated Gaussian classes in four features, 300 rows after a header, every tenth row's label flipped
    /// (rows 3, 13, …); returns the CSV's path and the flipped rows' line numbers.
    /// </summary>
    private static (string Path, HashSet<int> FlippedLines) FlippedTable(TempFolder dir)
    {
        var random = new Random(7);
        double Normal() => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        var lines = new List<string> { "f1,f2,f3,f4,label" };
        var flipped = new HashSet<int>();
        for (int i = 0; i < 300; i++)
        {
            int label = i % 2;
            double centre = label == 0 ? -1.5 : 1.5;
            string features = string.Join(",", Enumerable.Range(0, 4).Select(_ => (centre + Normal()).ToString("F4", CultureInfo.InvariantCulture)));
            bool flip = i % 10 == 3;
            if (flip) flipped.Add(lines.Count + 1);
            lines.Add($"{features},{((label == 1) != flip ? "spam" : "ham")}");
        }
        string path = dir.File("mail.csv");
        File.WriteAllLines(path, lines);
        return (path, flipped);
    }

    [Theory]
    [InlineData("representer")]
    [InlineData("tracin-self")]
    [InlineData("kl-last")]
    [InlineData("loss")]
    public void TheFlippedRowsOfATableComeFirstNamedByTheirLines(string method)
    {
        using TempFolder dir = TestSupport.TempFolder();
        (string csv, HashSet<int> flippedLines) = FlippedTable(dir);
        string model = dir.File("m.reparo");
        (int code, _, string err) = CliRunner.Run("train", "--data", $"csv:{csv}", "--arch", "mlp:16x1", "--epochs", "20", "--batch-size", "16", "--threads", "1", "--out", model);
        Assert.True(code == 0, err);
        (code, string output, err) = CliRunner.Run("influence", "suspects", "--model", model, "--data", $"csv:{csv}", "--method", method, "--top", "20", "--threads", "1", "--json", "-");
        Assert.True(code == 0, err);
        using JsonDocument json = JsonDocument.Parse(output);
        JsonElement root = json.RootElement;
        Assert.Equal(method, root.GetProperty("method").GetString());
        JsonElement[] suspects = [.. root.GetProperty("suspects").EnumerateArray()];
        Assert.Equal(20, suspects.Length);
        int[] lines = [.. suspects.Select(s => int.Parse(s.GetProperty("source").GetString()!.Split(':')[1], CultureInfo.InvariantCulture))];
        Assert.All(suspects, s => Assert.StartsWith("mail.csv:", s.GetProperty("source").GetString()));
        // About 10 % of the training rows are flipped, so a ranking no better than chance puts 2 of them in the top 20.
        int found = lines.Count(flippedLines.Contains);
        Assert.True(found >= 12, $"{method}: {found} of the top 20 are flipped rows (lines {string.Join(", ", lines)})");
        double[] scores = [.. suspects.Select(s => s.GetProperty("score").GetDouble())];
        Assert.Equal(scores.OrderDescending(), scores);
        Assert.Contains("training samples of csv:mail.csv/train", err);
    }

    /// <summary>
    /// <c>train --exclude</c> leaves out the samples a suspects JSON or a plain list names (the model's history says how
    /// many); a name that is no training or validation sample is one line, and nothing is written.
    /// </summary>
    [Fact]
    public void TrainExcludeLeavesOutTheListedSamples()
    {
        using TempFolder dir = TestSupport.TempFolder();
        (string csv, _) = FlippedTable(dir);
        string model = dir.File("m.reparo");
        (int code, _, string err) = CliRunner.Run("train", "--data", $"csv:{csv}", "--arch", "mlp:16x1", "--epochs", "5", "--batch-size", "16", "--threads", "1", "--out", model);
        Assert.True(code == 0, err);
        string suspects = dir.File("suspects.json");
        (code, _, err) = CliRunner.Run("influence", "suspects", "--model", model, "--data", $"csv:{csv}", "--top", "7", "--threads", "1", "--json", suspects);
        Assert.True(code == 0, err);
        string cleaned = dir.File("cleaned.reparo");
        (code, string output, err) = CliRunner.Run("train", "--data", $"csv:{csv}", "--arch", "mlp:16x1", "--epochs", "5", "--batch-size", "16", "--threads", "1",
            "--exclude", suspects, "--out", cleaned, "--json", "-");
        Assert.True(code == 0, err);
        using (JsonDocument json = JsonDocument.Parse(output)) Assert.Equal(7, json.RootElement.GetProperty("excluded").GetInt32());
        Assert.Contains("without the 7 samples listed in suspects.json", Assert.Single(ModelFile.Load(cleaned).Provenance.History));

        string[] names;
        using (JsonDocument json = JsonDocument.Parse(File.ReadAllText(suspects)))
            names = [.. json.RootElement.GetProperty("suspects").EnumerateArray().Select(e => e.GetProperty("source").GetString()!)];
        File.WriteAllLines(dir.File("list.txt"), ["# checked by hand", names[0], "", names[1]]);
        (code, output, err) = CliRunner.Run("train", "--data", $"csv:{csv}", "--arch", "mlp:16x1", "--epochs", "1", "--threads", "1", "--exclude", dir.File("list.txt"),
            "--out", dir.File("list.reparo"), "--json", "-");
        Assert.True(code == 0, err);
        using (JsonDocument json = JsonDocument.Parse(output)) Assert.Equal(2, json.RootElement.GetProperty("excluded").GetInt32());

        File.WriteAllLines(dir.File("typo.txt"), [names[0], "mail.csv:999"]);
        (code, _, err) = CliRunner.Run("train", "--data", $"csv:{csv}", "--arch", "mlp:16x1", "--epochs", "1", "--threads", "1", "--exclude", dir.File("typo.txt"), "--out", dir.File("typo.reparo"));
        Assert.Equal(2, code);
        Assert.Contains("'mail.csv:999' is not a training or validation sample", err);
        Assert.DoesNotContain('\n', err.Trim());
        Assert.False(File.Exists(dir.File("typo.reparo")));
        File.WriteAllText(dir.File("bad.json"), "{\"top\": []}");
        (code, _, err) = CliRunner.Run("train", "--data", $"csv:{csv}", "--arch", "mlp:16x1", "--epochs", "1", "--threads", "1", "--exclude", dir.File("bad.json"), "--out", dir.File("bad.reparo"));
        Assert.Equal(2, code);
        Assert.Contains("JSON without a 'suspects' list", err);
        using (FileStream huge = File.Create(dir.File("huge.txt"))) huge.SetLength((64L << 20) + 1);
        (code, _, err) = CliRunner.Run("train", "--data", $"csv:{csv}", "--arch", "mlp:16x1", "--epochs", "1", "--exclude", dir.File("huge.txt"), "--out", dir.File("huge.reparo"));
        Assert.Equal(2, code);
        Assert.Contains("over 64 MiB", err);
    }

    [Fact]
    public void AnImageFoldersSuspectsAreItsFilesAndTheReportShowsThem()
    {
        using TempFolder dir = TestSupport.TempFolder();
        string images = Path.Combine(dir.Path, "images");
        foreach (string part in new[] { "train", "val", "test" })
        {
            for (int i = 0; i < 12; i++)
            {
                UserDataFiles.Image(Path.Combine(images, part, "dark", $"d{i}.png"), 4, 4, (x, y) => new SKColor((byte)(5 * i), 10, 20));
                UserDataFiles.Image(Path.Combine(images, part, "light", $"l{i}.png"), 4, 4, (x, y) => new SKColor(240, (byte)(250 - 5 * i), 230));
            }
        }
        // A light image filed under dark: the one wrong label (in the training split, since val/ holds the validation part).
        UserDataFiles.Image(Path.Combine(images, "train", "dark", "odd.png"), 4, 4, (x, y) => new SKColor(245, 245, 245));
        string model = dir.File("m.reparo");
        (int code, _, string err) = CliRunner.Run("train", "--data", $"folder:{images}", "--arch", "mlp:8x1", "--epochs", "15", "--batch-size", "4", "--threads", "1", "--out", model);
        Assert.True(code == 0, err);
        string report = dir.File("suspects.html");
        (code, string output, err) = CliRunner.Run("influence", "suspects", "--model", model, "--data", $"folder:{images}", "--top", "3", "--threads", "1", "--report", report, "--json", "-");
        Assert.True(code == 0, err);
        using JsonDocument json = JsonDocument.Parse(output);
        JsonElement first = json.RootElement.GetProperty("suspects")[0];
        Assert.Equal(Path.Combine("train", "dark", "odd.png"), first.GetProperty("source").GetString());
        Assert.Equal("dark", first.GetProperty("label").GetString());
        Assert.Equal("light", first.GetProperty("prediction").GetString());
        string html = File.ReadAllText(report);
        Assert.Contains("train/dark/odd.png", html);
        Assert.Contains("<img", html);

        // eval lists the test files the model gets wrong (the report shows them); the dark file filed under light is one.
        UserDataFiles.Image(Path.Combine(images, "test", "light", "wrong.png"), 4, 4, (x, y) => new SKColor(3, 10, 20));
        string evalReport = dir.File("eval.html");
        (code, output, err) = CliRunner.Run("eval", "--model", model, "--data", $"folder:{images}", "--threads", "1", "--report", evalReport, "--json", "-");
        Assert.True(code == 0, err);
        using (JsonDocument evaluation = JsonDocument.Parse(output))
        {
            JsonElement wrong = Assert.Single(evaluation.RootElement.GetProperty("misclassified").EnumerateArray(), m => m.GetProperty("source").GetString() == Path.Combine("test", "light", "wrong.png"));
            Assert.Equal("dark", wrong.GetProperty("prediction").GetString());
        }
        Assert.Contains("test/light/wrong.png", File.ReadAllText(evalReport));
        Assert.Contains("in the --report file", err);
        File.Delete(Path.Combine(images, "test", "light", "wrong.png"));

        // explain names its test input and nearest training samples by their files too.
        (code, output, err) = CliRunner.Run("explain", "--model", model, "--data", $"folder:{images}", "--index", "0", "--threads", "1", "--json", "-");
        Assert.True(code == 0, err);
        using (JsonDocument explanation = JsonDocument.Parse(output))
        {
            Assert.Equal(Path.Combine("test", "dark", "d0.png"), explanation.RootElement.GetProperty("source").GetString());
            Assert.All(explanation.RootElement.GetProperty("neighbours").EnumerateArray(),
                n => Assert.Matches(@"^train/(dark|light)/[a-z]+\d*\.png$", n.GetProperty("source").GetString()!));
        }
        Assert.Contains("test sample 0 (test/dark/d0.png)", err);

        (code, _, err) = CliRunner.Run("influence", "suspects", "--model", model, "--data", $"folder:{images}", "--method", "confidence");
        Assert.Equal(2, code);
        Assert.Contains("confidence", err);
    }
}
