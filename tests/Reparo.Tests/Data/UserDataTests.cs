using System.IO.Compression;
using System.Text;
using Reparo.Data;
using Reparo.Io;
using Reparo.Models;
using SkiaSharp;
using static TorchSharp.torch;

namespace Reparo.Tests.Data;

/// <summary>Writes <c>.npz</c> archives and image folders for tests, without Python.</summary>
internal static class UserDataFiles
{
    /// <summary>An <c>.npz</c> of the given arrays (written by <see cref="NpyWriter"/>), deflated like <c>savez_compressed</c>.</summary>
    public static string Npz(string path, params (string Name, Tensor Array)[] arrays)
    {
        using (var archive = new ZipArchive(File.Create(path), ZipArchiveMode.Create))
        {
            foreach ((string name, Tensor array) in arrays)
            {
                using Stream entry = archive.CreateEntry(name + ".npy", CompressionLevel.Fastest).Open();
                NpyWriter.Write(entry, array);
            }
        }
        return path;
    }

    /// <summary>An <c>.npz</c> whose entries are given as raw <c>.npy</c> bytes.</summary>
    public static string RawNpz(string path, params (string Name, byte[] Bytes)[] entries)
    {
        using var archive = new ZipArchive(File.Create(path), ZipArchiveMode.Create);
        foreach ((string name, byte[] bytes) in entries)
        {
            using Stream entry = archive.CreateEntry(name + ".npy").Open();
            entry.Write(bytes);
        }
        return path;
    }

    /// <summary>The bytes of a <c>.npy</c> with the given header dictionary (format <paramref name="major"/>.0) and data.</summary>
    public static byte[] Npy(string header, byte[] data, int major = 1)
    {
        var stream = new MemoryStream();
        stream.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)major, 0]);
        byte[] text = Encoding.ASCII.GetBytes(header + "\n");
        stream.Write(major == 1 ? BitConverter.GetBytes((ushort)text.Length) : BitConverter.GetBytes((uint)text.Length));
        stream.Write(text);
        stream.Write(data);
        return stream.ToArray();
    }

    /// <summary>A small image data archive: 8×8 one-channel uint8 images, three classes.</summary>
    public static string ImageNpz(string path, int train = 30, int test = 12, int seed = 3)
    {
        var generator = new Generator((ulong)seed);
        return Npz(path,
            ("x_train", randint(0, 256, [train, 8, 8], generator: generator).to(ScalarType.Byte)),
            ("y_train", arange(train, ScalarType.Int64).remainder(3)),
            ("x_test", randint(0, 256, [test, 8, 8], generator: generator).to(ScalarType.Byte)),
            ("y_test", arange(test, ScalarType.Int64).remainder(3)));
    }

    /// <summary>Writes an image file (PNG or, for a .jpg name, JPEG) filled by <paramref name="color"/>.</summary>
    public static void Image(string path, int width, int height, Func<int, int, SKColor> color)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var bitmap = new SKBitmap(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++) bitmap.SetPixel(x, y, color(x, y));
        SKEncodedImageFormat format = path.EndsWith(".jpg", StringComparison.Ordinal) ? SKEncodedImageFormat.Jpeg : SKEncodedImageFormat.Png;
        using SKData data = bitmap.Encode(format, 95);
        File.WriteAllBytes(path, data.ToArray());
    }
}

public class UserDataTests
{
    public UserDataTests() => TestSupport.Init();

    [Fact]
    public void ANumpyWrittenCompressedArchiveLoadsWithBytesScaledAndOneChannel()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "Fixtures", "numpy-savez-compressed.npz");
        DataSplits splits = DataCatalog.Load($"npz:{path}", new DataOptions { ValidationFraction = 0.5 });
        Assert.Equal([1L, 2, 2], splits.Test.SampleShape);
        Assert.Equal(InputKind.Image, splits.Test.Kind);
        Assert.Equal(["0", "1", "2"], splits.Test.ClassNames);
        Assert.True(splits.ByteInputs);
        Assert.Equal(6, splits.Train.Count + splits.Validation.Count);
        Assert.Equal(3, splits.Validation.Count);
        Assert.Equal([2L, 0], splits.Test.Labels());
        Assert.Equal(1f, splits.Test.X.max().item<float>());
        // Row 1 of x_train is 40, 50, 60, 70: divided by 255 wherever the split put it.
        int row = splits.Train.SourceIndices.ToList().IndexOf(1);
        Dataset holder = row >= 0 ? splits.Train : splits.Validation;
        row = row >= 0 ? row : splits.Validation.SourceIndices.ToList().IndexOf(1);
        Assert.Equal(new[] { 40f, 50, 60, 70 }.Select(v => v / 255f), holder.X[row].flatten().data<float>().ToArray());
    }

    [Fact]
    public void EveryWrittenDtypeRoundTripsAndVersion2HeadersRead()
    {
        using var dir = TestSupport.TempFolder();
        string path = UserDataFiles.Npz(dir.File("a.npz"),
            ("f4", tensor(new float[] { 1.5f, -2 })), ("f8", tensor(new double[] { 0.25, 3 }).reshape(1, 2)),
            ("i8", tensor(new long[] { 7, -1 })), ("i4", tensor(new int[] { 3, 4 })), ("u1", tensor(new byte[] { 0, 255 })));
        IReadOnlyDictionary<string, NpyArray> arrays = NpyReader.ReadNpz(path);
        Assert.Equal([1.5f, -2], arrays["f4"].ToFloat32().data<float>().ToArray());
        Assert.Equal([1L, 2], arrays["f8"].Shape);
        Assert.Equal([0.25f, 3], arrays["f8"].ToFloat32().data<float>().ToArray());
        Assert.Equal([7L, -1], arrays["i8"].ToInt64());
        Assert.Equal([3L, 4], arrays["i4"].ToInt64());
        Assert.Equal([0f, 1], arrays["u1"].ToFloat32().data<float>().ToArray());
        Assert.Contains("expected integers", Assert.Throws<ReparoInputException>(() => arrays["f4"].ToInt64()).Message);

        byte[] v2 = UserDataFiles.Npy("{'descr': '<i2', 'fortran_order': False, 'shape': (3,), }", [1, 0, 2, 0, 255, 255], major: 2);
        string v2Path = UserDataFiles.RawNpz(dir.File("v2.npz"), ("a", v2));
        Assert.Equal([1L, 2, -1], NpyReader.ReadNpz(v2Path)["a"].ToInt64());
    }

    [Theory]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (100,), }", 8, "needs 400 data bytes, but 8 are present")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }", 8, "more than the limit")]
    [InlineData("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8, "big-endian dtype '>f4'")]
    [InlineData("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", 16, "object arrays")]
    [InlineData("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", 8, "dtype '<c8' is not supported")]
    [InlineData("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", 8, "Fortran-order")]
    [InlineData("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 8, "structured")]
    public void ABadArrayIsOneLineBeforeAnythingLarge(string header, int dataBytes, string expected)
    {
        using var dir = TestSupport.TempFolder();
        string path = UserDataFiles.RawNpz(dir.File("bad.npz"), ("x_train", UserDataFiles.Npy(header, new byte[dataBytes])));
        string message = Assert.Throws<ReparoInputException>(() => NpyReader.ReadNpz(path)).Message;
        Assert.Contains(expected, message);
        Assert.DoesNotContain('\n', message);
    }

    [Fact]
    public void ATruncatedOrOversizedArchiveIsRefused()
    {
        using var dir = TestSupport.TempFolder();
        string path = UserDataFiles.ImageNpz(dir.File("d.npz"));
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(dir.File("cut.npz"), bytes[..(bytes.Length / 2)]);
        Assert.Contains("not a readable .npz", Assert.Throws<ReparoInputException>(() => NpyReader.ReadNpz(dir.File("cut.npz"))).Message);
        Assert.Contains("more than the limit of 100", Assert.Throws<ReparoInputException>(() => NpyReader.ReadNpz(path, maxBytes: 100)).Message);
        Assert.Contains("not a NumPy .npy array", Assert.Throws<ReparoInputException>(() =>
            NpyReader.ReadNpz(UserDataFiles.RawNpz(dir.File("junk.npz"), ("x", Encoding.ASCII.GetBytes("hello world, not numpy"))))).Message);
    }

    [Fact]
    public void NpzDataUsesItsValidationArraysAndChecksLabelsAndShapes()
    {
        using var dir = TestSupport.TempFolder();
        string path = UserDataFiles.Npz(dir.File("f.npz"),
            ("x_train", rand(10, 5)), ("y_train", arange(10, ScalarType.Int64).remainder(2)),
            ("x_val", rand(4, 5)), ("y_val", tensor(new long[] { 0, 1, 0, 4 })),
            ("x_test", rand(3, 5)), ("y_test", tensor(new long[] { 1, 0, 1 })));
        DataSplits splits = DataCatalog.Load($"npz:{path}");
        Assert.Equal(InputKind.Features, splits.Train.Kind);
        Assert.Equal((10, 4, 3), (splits.Train.Count, splits.Validation.Count, splits.Test.Count));
        Assert.Equal(5, splits.Train.ClassCount);
        Assert.False(splits.ByteInputs);
        Assert.Contains("label 4 is not one of the model's 2 classes", Assert.Throws<ReparoInputException>(() =>
            DataCatalog.Load($"npz:{path}", new DataOptions { ClassNames = ["a", "b"] })).Message);

        string negative = UserDataFiles.Npz(dir.File("n.npz"), ("x_train", rand(2, 3)), ("y_train", tensor(new long[] { 0, -1 })),
            ("x_test", rand(2, 3)), ("y_test", tensor(new long[] { 0, 1 })));
        Assert.Contains("label -1 is negative", Assert.Throws<ReparoInputException>(() => DataCatalog.Load($"npz:{negative}")).Message);
        string mismatch = UserDataFiles.Npz(dir.File("m.npz"), ("x_train", rand(2, 3)), ("y_train", tensor(new long[] { 0, 1 })),
            ("x_test", rand(2, 4)), ("y_test", tensor(new long[] { 0, 1 })));
        Assert.Contains("does not match", Assert.Throws<ReparoInputException>(() => DataCatalog.Load($"npz:{mismatch}")).Message);
        string missing = UserDataFiles.Npz(dir.File("x.npz"), ("x_train", rand(2, 3)), ("y_train", tensor(new long[] { 0, 1 })));
        Assert.Contains("no array 'x_test'", Assert.Throws<ReparoInputException>(() => DataCatalog.Load($"npz:{missing}")).Message);
    }

    [Fact]
    public void AnImageFolderDecodesGrayPngsToOneChannelAndColourToRgbInClassOrder()
    {
        using var dir = TestSupport.TempFolder();
        foreach (string part in new[] { "train", "test" })
        {
            for (int i = 0; i < 3; i++)
            {
                UserDataFiles.Image(Path.Combine(dir.Path, "gray", part, "zebra", $"{i}.png"), 4, 3, (x, y) => new SKColor(200, 200, 200));
                UserDataFiles.Image(Path.Combine(dir.Path, "gray", part, "ant", $"{i}.png"), 4, 3, (x, y) => new SKColor((byte)(x * 50), (byte)(x * 50), (byte)(x * 50)));
            }
        }
        DataSplits gray = DataCatalog.Load($"folder:{Path.Combine(dir.Path, "gray")}", new DataOptions { ValidationFraction = 0.5 });
        Assert.Equal(["ant", "zebra"], gray.Test.ClassNames);
        Assert.Equal([1L, 3, 4], gray.Test.SampleShape);
        Assert.True(gray.ByteInputs);
        Assert.Equal([0L, 0, 0, 1, 1, 1], gray.Test.Labels());
        Assert.Equal([0f, 50 / 255f, 100 / 255f, 150 / 255f], gray.Test.X[0, 0, 0].data<float>().ToArray());
        Assert.Equal(3, gray.Validation.Count);

        string rgb = Path.Combine(dir.Path, "rgb");
        UserDataFiles.Image(Path.Combine(rgb, "train", "a", "0.png"), 2, 2, (x, y) => new SKColor(255, 0, 0));
        UserDataFiles.Image(Path.Combine(rgb, "train", "b", "0.jpg"), 2, 2, (x, y) => new SKColor(0, 0, 255));
        UserDataFiles.Image(Path.Combine(rgb, "test", "b", "0.png"), 2, 2, (x, y) => new SKColor(0, 0, 255));
        UserDataFiles.Image(Path.Combine(rgb, "val", "a", "0.png"), 2, 2, (x, y) => new SKColor(255, 0, 0));
        DataSplits colour = DataCatalog.Load($"folder:{rgb}");
        Assert.Equal([3L, 2, 2], colour.Test.SampleShape);
        Assert.Equal([0f, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1], colour.Test.X[0].flatten().data<float>().ToArray());
        Assert.Equal((2, 1), (colour.Train.Count, colour.Validation.Count));
        Assert.Equal([1L], colour.Test.Labels());

        UserDataFiles.Image(Path.Combine(rgb, "test", "a", "big.png"), 3, 2, (x, y) => new SKColor(1, 2, 3));
        string message = Assert.Throws<ReparoInputException>(() => DataCatalog.Load($"folder:{rgb}")).Message;
        Assert.Contains("big.png: 3×2 pixels", message);
        Assert.Contains("is 2×2", message);
        File.Delete(Path.Combine(rgb, "test", "a", "big.png"));
        File.WriteAllText(Path.Combine(rgb, "test", "a", "broken.png"), "not an image");
        Assert.Contains("broken.png: not a readable PNG or JPEG image", Assert.Throws<ReparoInputException>(() => DataCatalog.Load($"folder:{rgb}")).Message);
        File.Delete(Path.Combine(rgb, "test", "a", "broken.png"));
        Directory.CreateDirectory(Path.Combine(rgb, "test", "c"));
        Assert.Contains("class 'c' is not one of a, b", Assert.Throws<ReparoInputException>(() => DataCatalog.Load($"folder:{rgb}")).Message);
    }

    [Fact]
    public void TsvTextMapsLabelsAndTakesAVocabularyFile()
    {
        using var dir = TestSupport.TempFolder();
        var lines = Enumerable.Range(0, 40).Select(i => i % 2 == 0 ? $"spam\tbuy cheap pills now {i}" : $"ham\tmeeting at noon tomorrow {i}");
        File.WriteAllLines(dir.File("t.tsv"), lines);
        DataSplits splits = DataCatalog.Load($"tsv:{dir.File("t.tsv")}");
        Assert.Equal(["ham", "spam"], splits.Test.ClassNames);
        Assert.Equal(InputKind.Tokens, splits.Test.Kind);
        Assert.Equal(40, splits.Train.Count + splits.Validation.Count + splits.Test.Count);
        Assert.Contains("cheap", splits.Train.Vocabulary!.Tokens);

        // Each sample is named by its file and line (blank lines count, as an editor counts them), across the splits.
        string[] fileLines = ["", .. lines];
        File.WriteAllLines(dir.File("t.tsv"), fileLines);
        DataSplits named = DataCatalog.Load($"tsv:{dir.File("t.tsv")}", new DataOptions { TrainLimit = 20 });
        string[] names = [.. new[] { named.Train, named.Validation, named.Test }.SelectMany(d => Enumerable.Range(0, d.Count).Select(d.SourceName))];
        Assert.Equal(names.Length, names.Distinct().Count());
        foreach (Dataset part in new[] { named.Train, named.Validation, named.Test })
        {
            long[] labels = part.Labels();
            for (int r = 0; r < part.Count; r++)
            {
                string name = part.SourceName(r);
                Assert.StartsWith("t.tsv:", name);
                Assert.StartsWith(part.ClassNames[(int)labels[r]] + "\t", fileLines[int.Parse(name["t.tsv:".Length..]) - 1]);
            }
        }

        File.WriteAllLines(dir.File("vocab.txt"), ["cheap", "noon", "", "pills"]);
        DataSplits withVocabulary = DataCatalog.Load($"tsv:{dir.File("t.tsv")}", new DataOptions { VocabularyPath = dir.File("vocab.txt") });
        Assert.Equal(["<pad>", "<unk>", "cheap", "noon", "pills"], withVocabulary.Train.Vocabulary!.Tokens);
        Assert.Equal(5, withVocabulary.Train.Vocabulary.MaxLength);

        File.WriteAllText(dir.File("bad.tsv"), "spam\thello\nno tab here\n");
        Assert.Contains("bad.tsv:2: expected LABEL<TAB>TEXT", Assert.Throws<ReparoInputException>(() => DataCatalog.Load($"tsv:{dir.File("bad.tsv")}")).Message);
        Assert.Contains("label 'spam' is not one of the model's classes", Assert.Throws<ReparoInputException>(() =>
            DataCatalog.Load($"tsv:{dir.File("t.tsv")}", new DataOptions { ClassNames = ["ham", "eggs"] })).Message);
    }

    [Fact]
    public void PreprocessingScalesReordersAndNormalisesPerChannelAndAModelsRecordWins()
    {
        InputPreprocessing p = InputPreprocessing.Parse("0.5,0.25,0:0.5,0.5,2", "bgr", 2)!;
        using Tensor x = tensor(new float[] { 0.1f, 0.2f, 0.3f }).reshape(1, 3, 1, 1);
        // scale ×2 → 0.2, 0.4, 0.6; BGR → 0.6, 0.4, 0.2; minus mean, over std.
        float[] y = p.Apply(x).flatten().data<float>().ToArray();
        Assert.Equal(new[] { (0.6f - 0.5f) / 0.5f, (0.4f - 0.25f) / 0.5f, 0.2f / 2 }, y, (a, b) => Math.Abs(a - b) < 1e-6);
        Assert.Null(InputPreprocessing.Parse(null, null, null));
        Assert.Contains("should be MEAN:STD", Assert.Throws<ReparoInputException>(() => InputPreprocessing.Parse("0.5", null, null)).Message);
        Assert.Contains("must be positive", Assert.Throws<ReparoInputException>(() => InputPreprocessing.Parse("0.5:0", null, null)).Message);
        Assert.Contains("2 means", Assert.Throws<ReparoInputException>(() => InputPreprocessing.Parse("0.1,0.2:0.1,0.2,0.3", null, null)).Message);
        Assert.Contains("3 channels", Assert.Throws<ReparoInputException>(() => InputPreprocessing.Parse("0.1,0.2:0.5", null, null)!.Apply(x)).Message);

        Network model = ModelZoo.Create("mlp:4x2", [1L, 2, 2], InputKind.Image, ["a", "b"], null, seed: 0);
        InputPreprocessing given = InputPreprocessing.Parse("0.5:0.5", null, null)!;
        Assert.Equal("normalize 0.5:0.5", InputPreprocessing.Resolve(model.Provenance.Preprocessing, given)!.ToString());
        model.Provenance = model.Provenance with { Preprocessing = given };
        Assert.Same(given, InputPreprocessing.Resolve(model.Provenance.Preprocessing, null));
        Assert.Contains("the model records the preprocessing normalize 0.5:0.5", Assert.Throws<ReparoInputException>(() =>
            InputPreprocessing.Resolve(model.Provenance.Preprocessing, InputPreprocessing.Parse("0.1:0.5", null, null))).Message);
        Network reloaded = ModelFile.FromBytes(ModelFile.ToBytes(model), "m");
        Assert.Equal(given.Mean, reloaded.Provenance.Preprocessing!.Mean);
        Assert.Equal(given.Std, reloaded.Provenance.Preprocessing.Std);
    }

    /// <summary>
    /// <c>--normalize train</c> standardises each feature (each colour channel of images) by the training split's mean and
    /// population standard deviation, after the scale and channel order, as scikit-learn's StandardScaler: a constant
    /// feature is divided by 1; the preprocessed training split then has mean 0 and sd 1 per feature. Text and a missing
    /// training split are one-line errors.
    /// </summary>
    [Fact]
    public void NormalizeTrainStandardisesEachFeatureOrChannelByTheTrainingSplit()
    {
        float[,] rows = { { 1, 100, 7 }, { 3, 300, 7 }, { 5, 200, 7 }, { 7, 400, 7 } };
        var table = new Dataset("t", tensor(rows), tensor(new long[] { 0, 1, 0, 1 }), ["a", "b"], InputKind.Features);
        InputPreprocessing p = InputPreprocessing.Parse(InputPreprocessing.FromTraining, null, 0.5, table)!;
        // After ×0.5: feature 0 is 0.5, 1.5, 2.5, 3.5 (mean 2, population sd √1.25); feature 1 is 50…200; feature 2 constant.
        Assert.Equal(new[] { 2.0, 125.0, 3.5 }, p.Mean!, (a, b) => Math.Abs(a - b) < 1e-12);
        Assert.Equal(new[] { Math.Sqrt(1.25), Math.Sqrt(3125), 1.0 }, p.Std!, (a, b) => Math.Abs(a - b) < 1e-9);
        Assert.Equal(0.5, p.Scale);
        using Tensor standardised = p.Apply(table.X);
        float[] means = standardised.mean([0L]).data<float>().ToArray(), sds = standardised.std(0, unbiased: false).data<float>().ToArray();
        Assert.All(means, m => Assert.True(Math.Abs(m) < 1e-6, $"{m}"));
        Assert.Equal(new[] { 1f, 1f, 0f }, sds, (a, b) => Math.Abs(a - b) < 1e-5);

        // Images: one mean and sd per colour channel over every pixel, in the order the model reads (BGR reversed).
        using Tensor pixels = cat([full(2, 1, 2, 2, 0.25f), full(2, 1, 2, 2, 0.5f), arange(8, dtype: ScalarType.Float32).reshape(2, 1, 2, 2)], 1);
        var images = new Dataset("i", pixels, tensor(new long[] { 0, 1 }), ["a", "b"], InputKind.Image);
        InputPreprocessing bgr = InputPreprocessing.Parse("train", "bgr", null, images)!;
        Assert.Equal(new[] { 3.5, 0.5, 0.25 }, bgr.Mean!);
        Assert.Equal(new[] { Math.Sqrt(5.25), 1, 1 }, bgr.Std!, (a, b) => Math.Abs(a - b) < 1e-12);

        Assert.Contains("needs the data's training split", Assert.Throws<ReparoInputException>(() => InputPreprocessing.Parse("train", null, null)).Message);
        DataSplits text = DataCatalog.Load("fortunes:computers,love", new DataOptions { TrainLimit = 20 });
        Assert.Contains("is for numeric inputs", Assert.Throws<ReparoInputException>(() => InputPreprocessing.Parse("train", null, null, text.Train)).Message);
    }
}
