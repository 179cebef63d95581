using System.Text.Json;
using Reparo.Cli;

namespace Reparo.Tests.Cli;

public class CliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => CliRunner.Run(args);

    private static void AssertOneLineError(string err, string fragment)
    {
        string[] lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("reparo: ", lines[0]);
        Assert.Contains(fragment, lines[0]);
    }

    [Theory]
    [InlineData("train --data digits --arch mlp:8x2 --out x.reparo --epochz 3", "Unrecognized command or argument '--epochz'")]
    [InlineData("train --data digits --out x.reparo", "--arch")]
    [InlineData("frobnicate", "frobnicate")]
    [InlineData("eval --model m --data digits --split everything", "everything")]
    [InlineData("train --data digits --arch mlp:8x2 --out x.reparo --epochs many", "many")]
    public void UsageErrorsExitWithTwoAndOneLine(string args, string fragment)
    {
        (int code, string output, string err) = Run(args.Split(' '));
        Assert.Equal(CliApp.BadInput, code);
        Assert.Equal("", output);
        AssertOneLineError(err, fragment);
    }

    [Fact]
    public void BadInputExitsWithTwoAndWritesNothing()
    {
        using var dir = TestSupport.TempFolder();
        (int code, _, string err) = Run("eval", "--model", dir.File("missing.reparo"), "--data", "digits");
        Assert.Equal(CliApp.BadInput, code);
        AssertOneLineError(err, "missing.reparo: model file not found");

        (code, _, err) = Run("train", "--data", "digits", "--arch", "resnet50", "--out", dir.File("m.reparo"));
        Assert.Equal(CliApp.BadInput, code);
        AssertOneLineError(err, "unknown architecture 'resnet50'");

        (code, _, err) = Run("train", "--data", "digits", "--arch", "mlp:8x2", "--epochs", "0", "--out", dir.File("m.reparo"));
        Assert.Equal(CliApp.BadInput, code);
        AssertOneLineError(err, "epochs must be at least 1");

        (code, _, err) = Run("data", "show", "fashion-mnist", "--data-dir", dir.File("nowhere"));
        Assert.Equal(CliApp.BadInput, code);
        AssertOneLineError(err, "no such folder");

        (code, _, err) = Run("doctor", "--threads", "0");
        Assert.Equal(CliApp.BadInput, code);
        AssertOneLineError(err, "--threads must be at least 1");

        File.WriteAllText(dir.File("junk.reparo"), "this is not a model");
        (code, _, err) = Run("inspect", dir.File("junk.reparo"));
        Assert.Equal(CliApp.BadInput, code);
        AssertOneLineError(err, "not a Reparo model file");
        Assert.Equal("this is not a model", File.ReadAllText(dir.File("junk.reparo")));
        Assert.Equal(["junk.reparo"], Directory.GetFiles(dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void TrainEvalInspectRoundTripWithJson()
    {
        using var dir = TestSupport.TempFolder();
        string model = dir.File("digits.reparo");
        (int code, string output, string err) = Run("train", "--data", "digits", "--arch", "mlp:32x2", "--epochs", "20", "--lr", "0.005", "--out", model,
            "--json", dir.File("train.json"), "--threads", "2", "--tensorboard", dir.File("curves"));
        Assert.True(code == 0, err);
        Assert.Contains("test accuracy", output);
        Assert.Single(Directory.GetFiles(dir.File("curves"), "*tfevents*", SearchOption.AllDirectories));
        using (JsonDocument train = JsonDocument.Parse(File.ReadAllText(dir.File("train.json"))))
        {
            Assert.Equal("mlp:32x2", train.RootElement.GetProperty("arch").GetString());
            Assert.InRange(train.RootElement.GetProperty("epochs").GetArrayLength(), 4, 20);
            Assert.InRange(train.RootElement.GetProperty("test_accuracy").GetDouble(), 0.5, 1.0);
        }

        (code, output, err) = Run("eval", "--model", model, "--data", "digits", "--json", "-");
        Assert.True(code == 0, err);
        using (JsonDocument eval = JsonDocument.Parse(output))
        {
            JsonElement root = eval.RootElement;
            Assert.InRange(root.GetProperty("accuracy").GetDouble(), 0.5, 1.0);
            Assert.Equal(359, root.GetProperty("n").GetInt32());
            Assert.Equal(10, root.GetProperty("per_class_accuracy").GetArrayLength());
            // Every misclassified sample is listed, in the split's order, with its prediction's probability above its label's.
            JsonElement[] wrong = [.. root.GetProperty("misclassified").EnumerateArray()];
            Assert.Equal((int)Math.Round(359 * (1 - root.GetProperty("accuracy").GetDouble())), wrong.Length);
            Assert.Equal(wrong.Select(w => w.GetProperty("index").GetInt32()).Order(), wrong.Select(w => w.GetProperty("index").GetInt32()));
            Assert.All(wrong, w => Assert.NotEqual(w.GetProperty("label").GetString(), w.GetProperty("prediction").GetString()));
            Assert.All(wrong, w => Assert.True(w.GetProperty("probability").GetDouble() >= w.GetProperty("label_probability").GetDouble()));
        }
        Assert.Contains("accuracy", err); // the human summary moved to stderr

        (code, output, err) = Run("eval", "--model", model, "--data", "digits", "--corruption", "gaussian-noise", "--severity", "5", "--json", dir.File("noisy.json"));
        Assert.True(code == 0, err);
        using (JsonDocument noisy = JsonDocument.Parse(File.ReadAllText(dir.File("noisy.json"))))
            Assert.Equal("gaussian-noise", noisy.RootElement.GetProperty("corruption").GetString());

        (code, output, err) = Run("inspect", model, "--json", dir.File("inspect.json"));
        Assert.True(code == 0, err);
        Assert.Contains("fc2", output);
        using JsonDocument inspect = JsonDocument.Parse(File.ReadAllText(dir.File("inspect.json")));
        Assert.Equal(["flatten", "fc1", "relu1", "fc2"], inspect.RootElement.GetProperty("layers").EnumerateArray().Select(l => l.GetProperty("name").GetString()));
    }

    [Fact]
    public void EvalRejectsCorruptingText()
    {
        using var dir = TestSupport.TempFolder();
        string model = dir.File("text.reparo");
        (int code, _, string err) = Run("train", "--data", "wordnet:animal,plant", "--arch", "text:8", "--epochs", "1", "--train-limit", "500", "--out", model);
        Assert.True(code == 0, err);
        (code, _, err) = Run("eval", "--model", model, "--data", "wordnet:animal,plant", "--corruption", "fog");
        Assert.Equal(CliApp.BadInput, code);
        AssertOneLineError(err, "corruptions apply to images");
    }

    [Fact]
    public void HelpAndDoctorSucceed()
    {
        (int code, string output, _) = Run("--help");
        Assert.Equal(0, code);
        Assert.Contains("reparo [command] [options]", output);
        foreach (string command in new[] { "train", "eval", "demo", "doctor", "inspect", "bench", "data" }) Assert.Contains(command, output);
        (code, output, _) = Run("train", "--help");
        Assert.Equal(0, code);
        foreach (string option in new[] { "--json", "--seed", "--threads", "--arch", "--data" }) Assert.Contains(option, output);
        (code, output, string err) = Run("doctor", "--json", "-");
        Assert.True(code == 0, err);
        using JsonDocument doctor = JsonDocument.Parse(output);
        Assert.StartsWith("2.10", doctor.RootElement.GetProperty("torch_version").GetString());
        Assert.Contains("highs", doctor.RootElement.GetProperty("solvers").EnumerateArray().Select(s => s.GetString()));
    }
}
