using System.Text.Json;
using Reparo.Data;
using Reparo.Models;
using Reparo.Tests.Data;
using SkiaSharp;
using static TorchSharp.torch;

namespace Reparo.Tests.Cli;

public sealed class UserDataCliTests
{
    /// <summary>Trains a one-epoch MLP on a small uint8 image archive with <c>--normalize</c>; returns the data and model paths.</summary>
    private static (string Data, string Model) Train(TempFolder dir)
    {
        string data = UserDataFiles.ImageNpz(dir.File("d.npz"));
        string model = dir.File("m.reparo");
        (int code, _, string err) = CliRunner.Run("train", "--data", $"npz:{data}", "--arch", "mlp:8x2", "--epochs", "1", "--normalize", "0.5:0.25", "--out", model);
        Assert.True(code == 0, err);
        return (data, model);
    }

    private static void AssertOneLineFailure((int Code, string Out, string Err) result, string expected)
    {
        Assert.Equal(2, result.Code);
        Assert.Contains(expected, result.Err);
        Assert.DoesNotContain('\n', result.Err.Trim());
    }

    [Fact]
    public void TrainOnAnArchiveRecordsThePreprocessingAndRepairTakesAnArchiveRepairSet()
    {
        using TempFolder dir = TestSupport.TempFolder();
        (string data, string model) = Train(dir);
        Network network = ModelFile.Load(model);
        InputPreprocessing preprocessing = network.Provenance.Preprocessing!;
        Assert.True(preprocessing.ByteInputs);
        Assert.Equal([0.5], preprocessing.Mean);
        Assert.Equal([0.25], preprocessing.Std);
        Assert.Contains("input preprocessing: 8-bit inputs ÷ 255, normalize 0.5:0.25", CliRunner.Run("inspect", model).Out);
        // The ONNX export holds the layers: ONNX Runtime, fed the preprocessed check batch, agrees with the model on the raw one.
        (int exportCode, string exportOut, string exportErr) = CliRunner.Run("export", "--model", model, "--out", dir.File("m.onnx"), "--json", dir.File("export.json"));
        Assert.True(exportCode == 0, exportErr);
        Assert.Contains("the file reads preprocessed inputs: apply the model's input preprocessing (8-bit inputs ÷ 255, normalize 0.5:0.25)", exportOut);
        using (JsonDocument export = JsonDocument.Parse(File.ReadAllText(dir.File("export.json"))))
            Assert.InRange(export.RootElement.GetProperty("max_abs_difference").GetDouble(), 0, 1e-5);

        // Four raw inputs as (N, H, W) floats (the model preprocesses them); the repair asks each for the class after the predicted one.
        Tensor x = rand([4, 8, 8], generator: new Generator(5));
        long[] wanted = network.Predict(x.unsqueeze(1)).Select(p => (p + 1) % 3).ToArray();
        string points = UserDataFiles.Npz(dir.File("points.npz"), ("x", x), ("y", tensor(wanted)));
        string repaired = dir.File("repaired.reparo");
        (int code, string output, string err) = CliRunner.Run("repair", "--method", "provable", "--model", model, "--data", $"npz:{data}",
            "--repair-set", $"npz:{points}", "--layer", "fc2", "--out", repaired);
        Assert.True(code == 0, err);
        Assert.Contains("4 regions, 4 vertices", output);
        Network fixedNetwork = ModelFile.Load(repaired);
        Assert.Equal(wanted, fixedNetwork.Predict(x.unsqueeze(1)));
        Assert.Equal(preprocessing.Mean, fixedNetwork.Provenance.Preprocessing!.Mean);

        // Regions: rows 0 and 1 are one segment's vertices, row 2 a point; one label per region.
        string regions = UserDataFiles.Npz(dir.File("regions.npz"), ("x", x.narrow(0, 0, 3)), ("y", tensor(new[] { wanted[0], wanted[2] })),
            ("regions", tensor(new long[] { 0, 0, 1 })));
        (int regionCode, string regionOutput, string regionErr) = CliRunner.Run("repair", "--method", "provable", "--model", model, "--data", $"npz:{data}",
            "--repair-set", $"npz:{regions}", "--layer", "fc2");
        Assert.True(regionCode == 0, regionErr);
        Assert.Contains("2 regions, 3 vertices", regionOutput);
    }

    [Fact]
    public void BadUserDataExitsTwoWithOneLineAndWritesNothing()
    {
        using TempFolder dir = TestSupport.TempFolder();
        (string data, string model) = Train(dir);
        string output = dir.File("out.reparo");

        byte[] bytes = File.ReadAllBytes(data);
        File.WriteAllBytes(dir.File("cut.npz"), bytes[..(bytes.Length - 40)]);
        AssertOneLineFailure(CliRunner.Run("train", "--data", $"npz:{dir.File("cut.npz")}", "--arch", "mlp:8x2", "--epochs", "1", "--out", output),
            "not a readable .npz");

        string small = UserDataFiles.Npz(dir.File("small.npz"), ("x_train", rand(6, 6, 6)), ("y_train", tensor(new long[] { 0, 1, 2, 0, 1, 2 })),
            ("x_test", rand(3, 6, 6)), ("y_test", tensor(new long[] { 0, 1, 2 })));
        AssertOneLineFailure(CliRunner.Run("eval", "--model", model, "--data", $"npz:{small}"), "data shape [1,6,6] does not match the model's input [1,8,8]");

        string badLabel = UserDataFiles.Npz(dir.File("label.npz"), ("x", rand(2, 8, 8)), ("y", tensor(new long[] { 0, 7 })));
        AssertOneLineFailure(CliRunner.Run("repair", "--method", "provable", "--model", model, "--data", $"npz:{data}", "--repair-set", $"npz:{badLabel}",
            "--layer", "fc2", "--out", output), "label 7 is not a class of the model (0–2)");

        string badShape = UserDataFiles.Npz(dir.File("shape.npz"), ("x", rand(2, 3, 8, 8)), ("y", tensor(new long[] { 0, 1 })));
        AssertOneLineFailure(CliRunner.Run("repair", "--method", "provable", "--model", model, "--data", $"npz:{data}", "--repair-set", $"npz:{badShape}",
            "--layer", "fc2", "--out", output), "data shape [3,8,8] does not match the model's input [1,8,8]");

        AssertOneLineFailure(CliRunner.Run("eval", "--model", model, "--data", $"npz:{data}", "--normalize", "0.1:0.2"),
            "the model records the preprocessing 8-bit inputs ÷ 255, normalize 0.5:0.25");
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void RectifyTakesTheUsersPairsAndMeasuresAttackSuccessOnTheirTriggeredInputs()
    {
        using TempFolder dir = TestSupport.TempFolder();
        (string data, string model) = Train(dir);
        Tensor clean = rand([6, 8, 8], generator: new Generator(9));
        Tensor triggered = clean.clone();
        triggered.narrow(1, 6, 2).narrow(2, 6, 2).fill_(1f);
        string pairs = UserDataFiles.Npz(dir.File("pairs.npz"), ("corrupted", triggered.narrow(0, 0, 2)), ("clean", clean.narrow(0, 0, 2)));
        string trigger = UserDataFiles.Npz(dir.File("trigger.npz"), ("x", triggered), ("y", tensor(new long[] { 0, 1, 2, 0, 1, 1 })), ("target", tensor(2L)));
        string json = dir.File("r.json"), output = dir.File("fixed.reparo");
        (int code, string stdout, string err) = CliRunner.Run("rectify", "--model", model, "--data", $"npz:{data}", "--pairs", $"npz:{pairs}",
            "--trigger-test", $"npz:{trigger}", "--mode", "static", "--json", json, "--out", output);
        Assert.True(code == 0, err);
        Assert.Contains("attack success rate", stdout);
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        JsonElement r = doc.RootElement;
        Assert.Equal("user", r.GetProperty("poison").GetString());
        Assert.Equal(2, r.GetProperty("pairs").GetInt32());
        Assert.InRange(r.GetProperty("asr_before").GetDouble(), 0, 1);
        Assert.InRange(r.GetProperty("asr_after").GetDouble(), 0, 1);
        Assert.True(File.Exists(output));

        string noTarget = UserDataFiles.Npz(dir.File("notarget.npz"), ("x", triggered));
        string unwritten = dir.File("unwritten.reparo");
        AssertOneLineFailure(CliRunner.Run("rectify", "--model", model, "--data", $"npz:{data}", "--pairs", $"npz:{pairs}", "--trigger-test", $"npz:{noTarget}",
            "--out", unwritten), "the attack's target class is unknown");
        AssertOneLineFailure(CliRunner.Run("rectify", "--model", model, "--data", $"npz:{data}", "--pairs", $"npz:{pairs}", "--trigger-test", $"npz:{noTarget}",
            "--target", "9", "--out", unwritten), "target 9 is not a class of the model");
        AssertOneLineFailure(CliRunner.Run("rectify", "--model", model, "--data", $"npz:{data}", "--pairs", "trojan:1", "--trigger-test", $"npz:{trigger}"),
            "--trigger-test and --target go with --pairs npz:PATH");
        Assert.False(File.Exists(unwritten));
    }

    /// <summary>
    /// Photos of several sizes: <c>train --resize --center-crop</c> trains on them and the model records the resizing;
    /// <c>eval</c> reads the folder the same way without the options, refuses different ones, and the ONNX export
    /// carries it. A model that records none and images of another size get one line naming the options.
    /// </summary>
    [Fact]
    public void PhotosOfSeveralSizesAreResizedAsTorchvisionDoesAndTheModelRecordsIt()
    {
        using TempFolder dir = TestSupport.TempFolder();
        string photos = Path.Combine(dir.Path, "photos");
        foreach (string part in new[] { "train", "test" })
        {
            for (int i = 0; i < 6; i++)
            {
                (int w, int h) = (10 + 3 * i, 16 - i);
                UserDataFiles.Image(Path.Combine(photos, part, "night", $"{i}.png"), w, h, (x, y) => new SKColor((byte)(5 * x), (byte)(3 * y), 40));
                UserDataFiles.Image(Path.Combine(photos, part, "day", $"{i}.jpg"), w, h, (x, y) => new SKColor(230, (byte)(200 + x), (byte)(250 - y)));
            }
        }
        string data = $"folder:{photos}";
        string model = dir.File("photos.reparo");
        AssertOneLineFailure(CliRunner.Run("train", "--data", data, "--arch", "mlp:4x2", "--epochs", "1", "--out", model), "--resize 256 --center-crop 224");
        Assert.False(File.Exists(model));
        (int code, _, string err) = CliRunner.Run("train", "--data", data, "--arch", "mlp:4x2", "--epochs", "1", "--resize", "9", "--center-crop", "8x9", "--out", model);
        Assert.True(code == 0, err);
        Network network = ModelFile.Load(model);
        Assert.Equal([3L, 8, 9], network.Spec.InputShape);
        Assert.Equal("resize 9, center-crop 8x9", network.Provenance.ImageResizing!.ToString());
        Assert.Contains("folder images resized as they are read: resize 9, center-crop 8x9", CliRunner.Run("inspect", model).Out);
        (code, string evalOut, err) = CliRunner.Run("eval", "--model", model, "--data", data, "--json", "-");
        Assert.True(code == 0, err);
        Assert.Equal(12, JsonDocument.Parse(evalOut).RootElement.GetProperty("n").GetInt32());
        AssertOneLineFailure(CliRunner.Run("eval", "--model", model, "--data", data, "--resize", "12"), "the model records the image resizing resize 9, center-crop 8x9");
        AssertOneLineFailure(CliRunner.Run("eval", "--model", model, "--data", "fashion-mnist", "--center-crop", "8x9"), "--resize and --center-crop resize the images of folder: data");
        AssertOneLineFailure(CliRunner.Run("eval", "--model", model, "--data", data, "--center-crop", "0"), "--center-crop '0'");

        // The export records the resizing; imported again, the model reads the folder the same way.
        string onnx = dir.File("photos.onnx");
        (code, _, err) = CliRunner.Run("export", "--model", model, "--out", onnx);
        Assert.True(code == 0, err);
        (code, string onnxOut, err) = CliRunner.Run("eval", "--model", onnx, "--data", data, "--json", "-");
        Assert.True(code == 0, err);
        Assert.Equal(JsonDocument.Parse(evalOut).RootElement.GetProperty("accuracy").GetDouble(),
            JsonDocument.Parse(onnxOut).RootElement.GetProperty("accuracy").GetDouble());

        // A model that records no resizing (trained on 8 × 9 images) and a folder of 12 × 10 images: the line names the options.
        string same = Path.Combine(dir.Path, "same");
        foreach (string part in new[] { "train", "test" })
        {
            foreach (string label in new[] { "day", "night" })
                UserDataFiles.Image(Path.Combine(same, part, label, "0.png"), 10, 12, (x, y) => new SKColor((byte)(20 * x), (byte)(label == "day" ? 200 : 10), (byte)y));
        }
        string plain = dir.File("plain.reparo");
        (code, _, err) = CliRunner.Run("train", "--data", data, "--arch", "mlp:4x2", "--epochs", "1", "--resize", "8x9", "--out", plain);
        Assert.True(code == 0, err);
        AssertOneLineFailure(CliRunner.Run("eval", "--model", plain, "--data", $"folder:{same}", "--resize", "12x10"), "the model records the image resizing resize 8x9");
        ModelFile.Save(ModelFile.Load(plain) is { } loaded ? WithoutResizing(loaded) : null!, plain);
        AssertOneLineFailure(CliRunner.Run("eval", "--model", plain, "--data", $"folder:{same}"),
            "data shape [3,12,10] does not match the model's input [3,8,9]; resize the images as the model's PyTorch transform does with --resize and --center-crop");
        (code, _, err) = CliRunner.Run("eval", "--model", plain, "--data", $"folder:{same}", "--resize", "8x9");
        Assert.True(code == 0, err);
    }

    private static Network WithoutResizing(Network network)
    {
        network.Provenance = network.Provenance with { ImageResizing = null };
        return network;
    }

    [Fact]
    public void FolderAndTsvDataTrainFromTheCommandLine()
    {
        using TempFolder dir = TestSupport.TempFolder();
        foreach (string part in new[] { "train", "test" })
        {
            for (int i = 0; i < 4; i++)
            {
                UserDataFiles.Image(Path.Combine(dir.Path, "images", part, "dark", $"{i}.png"), 5, 5, (x, y) => new SKColor((byte)(10 * i), 20, 30));
                UserDataFiles.Image(Path.Combine(dir.Path, "images", part, "light", $"{i}.png"), 5, 5, (x, y) => new SKColor(220, (byte)(200 + 10 * i), 240));
            }
        }
        string imageModel = dir.File("images.reparo");
        (int code, _, string err) = CliRunner.Run("train", "--data", $"folder:{Path.Combine(dir.Path, "images")}", "--arch", "mlp:4x2", "--epochs", "1",
            "--channel-order", "bgr", "--out", imageModel);
        Assert.True(code == 0, err);
        Network images = ModelFile.Load(imageModel);
        Assert.Equal([3L, 5, 5], images.Spec.InputShape);
        Assert.Equal(["dark", "light"], images.Spec.ClassNames);
        Assert.Equal(ChannelOrder.Bgr, images.Provenance.Preprocessing!.ChannelOrder);

        File.WriteAllLines(dir.File("t.tsv"), Enumerable.Range(0, 30).Select(i => i % 2 == 0 ? $"pos\tgood great fine {i}" : $"neg\tbad awful poor {i}"));
        File.WriteAllLines(dir.File("vocab.txt"), ["good", "great", "bad", "awful"]);
        string textModel = dir.File("text.reparo");
        (code, _, err) = CliRunner.Run("train", "--data", $"tsv:{dir.File("t.tsv")}", "--vocab", dir.File("vocab.txt"), "--arch", "text:4", "--epochs", "1", "--out", textModel);
        Assert.True(code == 0, err);
        Assert.Equal(["<pad>", "<unk>", "good", "great", "bad", "awful"], ModelFile.Load(textModel).Spec.VocabularyTokens);
        (code, _, err) = CliRunner.Run("eval", "--model", textModel, "--data", $"tsv:{dir.File("t.tsv")}");
        Assert.True(code == 0, err);
        AssertOneLineFailure(CliRunner.Run("eval", "--model", textModel, "--data", $"tsv:{dir.File("t.tsv")}", "--vocab", dir.File("vocab.txt")),
            "the model carries its vocabulary");
        AssertOneLineFailure(CliRunner.Run("eval", "--model", imageModel, "--data", $"folder:{Path.Combine(dir.Path, "images")}", "--vocab", dir.File("vocab.txt")),
            "--vocab is for text data");
    }

    /// <summary>
    /// A text classifier exported from PyTorch (token ids (N, 6) → Gather from its embedding table → mean over the tokens →
    /// Gemm) records no vocabulary: without <c>--vocab</c> it is one line, exit 2 (it used to be an internal error); with
    /// it, the user's ids are read and every text padded or cut to the model's own 6 tokens, not the data's typical 4.
    /// </summary>
    [Fact]
    public void AnImportedTextModelTakesItsIdsFromTheVocabularyFileAtItsOwnLength()
    {
        TestSupport.Init();
        using TempFolder dir = TestSupport.TempFolder();
        var model = new Onnx.ModelProto { IrVersion = 7, Graph = new Onnx.GraphProto { Name = "text" } };
        model.OpsetImport.Add(new Onnx.OperatorSetIdProto { Domain = "", Version = 13 });
        var shape = new Onnx.TensorShapeProto();
        shape.Dim.Add(new Onnx.TensorShapeProto.Types.Dimension { DimParam = "N" });
        shape.Dim.Add(new Onnx.TensorShapeProto.Types.Dimension { DimValue = 6 });
        model.Graph.Input.Add(new Onnx.ValueInfoProto { Name = "tokens", Type = new Onnx.TypeProto { TensorType = new Onnx.TypeProto.Types.Tensor { ElemType = 7, Shape = shape } } });
        model.Graph.Output.Add(Models.OnnxImportTests.Value("y", 2));
        var random = new Random(1);
        model.Graph.Initializer.Add([Models.OnnxImportTests.UniformFloats("table", random, 1, 8, 3), Models.OnnxImportTests.UniformFloats("w", random, 1, 2, 3),
            Models.OnnxImportTests.UniformFloats("b", random, 0.3, 2)]);
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "embed", OpType = "Gather", Input = { "table", "tokens" }, Output = { "e" } });
        model.Graph.Node.Add(new Onnx.NodeProto
        {
            Name = "mean",
            OpType = "ReduceMean",
            Input = { "e" },
            Output = { "m" },
            Attribute = { new Onnx.AttributeProto { Name = "axes", Type = Onnx.AttributeProto.Types.AttributeType.Ints, Ints = { 1 } }, new Onnx.AttributeProto { Name = "keepdims", Type = Onnx.AttributeProto.Types.AttributeType.Int, I = 0 } }
        });
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "fc", OpType = "Gemm", Input = { "m", "w", "b" }, Output = { "y" }, Attribute = { new Onnx.AttributeProto { Name = "transB", Type = Onnx.AttributeProto.Types.AttributeType.Int, I = 1 } } });
        string onnx = dir.File("text.onnx");
        File.WriteAllBytes(onnx, Google.Protobuf.MessageExtensions.ToByteArray(model));
        File.WriteAllLines(dir.File("t.tsv"), Enumerable.Range(0, 30).Select(i => i % 2 == 0 ? $"pos\tgood great fine {i}" : $"neg\tbad awful poor {i}"));
        File.WriteAllLines(dir.File("vocab.txt"), ["good", "great", "bad", "awful"]);

        AssertOneLineFailure(CliRunner.Run("eval", "--model", onnx, "--data", $"tsv:{dir.File("t.tsv")}"), "the model records no vocabulary (an ONNX export): give --vocab PATH");
        (int code, _, string err) = CliRunner.Run("eval", "--model", onnx, "--data", $"tsv:{dir.File("t.tsv")}", "--vocab", dir.File("vocab.txt"));
        Assert.True(code == 0, err);
    }

    /// <summary>
    /// <c>train --normalize train</c> on a CSV table records one mean and one standard deviation per feature, those of the
    /// training split; <c>eval</c> with the same option on the same split agrees with the record, and <c>--normalize train</c>
    /// on text is one line, exit 2.
    /// </summary>
    [Fact]
    public void NormalizeTrainOnATableRecordsTheTrainingSplitsStatisticsPerFeature()
    {
        using TempFolder dir = TestSupport.TempFolder();
        var lines = Enumerable.Range(0, 60).Select(i => FormattableString.Invariant($"{i % 7},{1000 + 10 * i},{i % 2}"));
        File.WriteAllLines(dir.File("t.csv"), lines);
        string model = dir.File("m.reparo"), data = $"csv:{dir.File("t.csv")}";
        (int code, _, string err) = CliRunner.Run("train", "--data", data, "--arch", "mlp:4x2", "--epochs", "1", "--normalize", "train", "--out", model);
        Assert.True(code == 0, err);
        InputPreprocessing recorded = ModelFile.Load(model).Provenance.Preprocessing!;
        (double[] means, double[] stds) = new InputPreprocessing().StatisticsOf(DataCatalog.Load(data).Train);
        Assert.Equal(means, recorded.Mean);
        Assert.Equal(stds, recorded.Std);
        Assert.Equal(2, means.Length);
        Assert.True(means[1] > 1000 && stds[1] > 100, $"{means[1]} {stds[1]}");
        (code, _, err) = CliRunner.Run("eval", "--model", model, "--data", data, "--normalize", "train");
        Assert.True(code == 0, err);
        AssertOneLineFailure(CliRunner.Run("train", "--data", "fortunes:computers,love", "--train-limit", "20", "--arch", "text:8", "--epochs", "1", "--normalize", "train",
            "--out", dir.File("t.reparo")), "--normalize is for numeric inputs");
    }
}
