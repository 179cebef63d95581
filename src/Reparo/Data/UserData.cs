using Reparo.Io;
using SkiaSharp;
using static TorchSharp.torch;

namespace Reparo.Data;

/// <summary>
/// Readers for the user's own data: NumPy archives (<c>npz:PATH</c>), ImageFolder trees (<c>folder:PATH</c>) and
/// labelled text (<c>tsv:PATH</c>, read by <see cref="TextCorpus.ReadTsv"/>). 8-bit values (uint8 arrays, PNG/JPEG
/// pixels) are divided by 255, so images land in [0, 1]; <see cref="DataSplits.ByteInputs"/> records it.
/// </summary>
public static class UserData
{
    /// <summary>The most bytes the float32 inputs of one folder dataset may take (2 GiB).</summary>
    public const long MaxFolderBytes = 2L << 30;

    /// <summary>The most classes an <c>npz</c> dataset's labels may make.</summary>
    public const int MaxClasses = 100_000;

    /// <summary>The largest image side a folder dataset accepts.</summary>
    public const int MaxImageSide = 8192;

    private static readonly string[] ImageExtensions = [".png", ".jpg", ".jpeg"];

    /// <summary>
    /// Reads an <c>.npz</c> with <c>x_train, y_train, x_test, y_test</c> and optionally <c>x_val, y_val</c> (else the
    /// validation part is carved from the training part, seeded). Inputs are float32, float64 or uint8 (÷ 255) of shape
    /// (N, C, H, W) or (N, H, W) (images; the latter one channel) or (N, F) (feature vectors); labels are integers. The
    /// classes are <c>0 … K−1</c> with K = the largest label + 1 (or a model's classes, <see cref="DataOptions.ClassNames"/>).
    /// </summary>
    public static DataSplits LoadNpz(string path, DataOptions options)
    {
        IReadOnlyDictionary<string, NpyArray> arrays = NpyReader.ReadNpz(path);
        string name = $"npz:{Path.GetFileName(path)}";
        NpyArray Require(string key) => arrays.TryGetValue(key, out NpyArray? a) ? a
            : throw new ReparoInputException($"{path}: no array '{key}'; a data archive needs x_train, y_train, x_test, y_test (and optionally x_val, y_val); it has {string.Join(", ", arrays.Keys)}");
        bool hasValidation = arrays.ContainsKey("x_val") || arrays.ContainsKey("y_val");
        var parts = new List<(string Part, NpyArray X, NpyArray Y)> { ("train", Require("x_train"), Require("y_train")), ("test", Require("x_test"), Require("y_test")) };
        if (hasValidation) parts.Add(("validation", Require("x_val"), Require("y_val")));
        NpyArray first = parts[0].X;
        foreach ((string part, NpyArray x, NpyArray y) in parts)
        {
            if (x.Shape.Length is < 2 or > 4) throw new ReparoInputException($"{x.Name}: shape {x.ShapeText}; expected (N, C, H, W), (N, H, W) or (N, F)");
            if (!x.Shape[1..].SequenceEqual(first.Shape[1..])) throw new ReparoInputException($"{x.Name}: shape {x.ShapeText} does not match {first.Name}'s {first.ShapeText}");
            if (x.Type != first.Type) throw new ReparoInputException($"{x.Name}: {x.Type.ToString().ToLowerInvariant()} values, but {first.Name} holds {first.Type.ToString().ToLowerInvariant()}");
            if (x.IsInteger && x.Type != NpyType.UInt8) throw new ReparoInputException($"{x.Name}: inputs must be float32, float64 or uint8, not {x.Type.ToString().ToLowerInvariant()}");
            if (y.Shape.Length != 1 || y.Shape[0] != x.Shape[0]) throw new ReparoInputException($"{y.Name}: shape {y.ShapeText}; expected ({x.Shape[0]},), one label per row of {x.Name}");
            if (x.Shape[0] == 0 && part != "validation") throw new ReparoInputException($"{x.Name}: no samples");
        }
        long[][] labels = parts.Select(p => p.Y.ToInt64()).ToArray();
        long largest = labels.SelectMany(l => l).DefaultIfEmpty(0).Max();
        for (int i = 0; i < parts.Count; i++)
        {
            long negative = labels[i].FirstOrDefault(l => l < 0, 0);
            if (negative < 0) throw new ReparoInputException($"{parts[i].Y.Name}: label {negative} is negative");
        }
        if (options.ClassNames is null && largest >= MaxClasses) throw new ReparoInputException($"{path}: label {largest} would make more than {MaxClasses} classes");
        IReadOnlyList<string> classes = options.ClassNames ?? Enumerable.Range(0, (int)largest + 1).Select(c => c.ToString()).ToArray();
        if (largest >= classes.Count) throw new ReparoInputException($"{path}: label {largest} is not one of the model's {classes.Count} classes (0–{classes.Count - 1})");
        if (classes.Count < 2) throw new ReparoInputException($"{path}: the labels name only one class");
        InputKind kind = first.Shape.Length == 2 ? InputKind.Features : InputKind.Image;
        Dataset Make(int i)
        {
            using var scope = NewDisposeScope();
            (string part, NpyArray x, _) = parts[i];
            Tensor values = x.ToFloat32();
            if (x.Shape.Length == 3) values = values.unsqueeze(1);
            return new Dataset($"{name}/{part}", values, tensor(labels[i]), classes, kind);
        }
        Dataset train = Make(0), test = Make(1);
        (Dataset fit, Dataset validation) = hasValidation ? (train, Make(2)) : DataCatalog.HoldOut(train, options.ValidationFraction, options.SplitSeed, name);
        return new DataSplits(fit, validation, test) { ByteInputs = first.Type == NpyType.UInt8 };
    }

    /// <summary>
    /// Reads an ImageFolder tree: <c>train/CLASS/*.png|jpg|jpeg</c>, <c>test/CLASS/…</c> and optionally <c>val/CLASS/…</c>
    /// (else the validation part is carved from the training part, seeded). Classes are the training sub-folders in
    /// ordinal order (or a model's classes). Images are decoded by SkiaSharp to RGB (channel order red, green, blue;
    /// alpha dropped), resized and cropped when <see cref="DataOptions.ImageResizing"/> asks (as torchvision's
    /// <c>Resize</c> and <c>CenterCrop</c> do), kept as one gray channel when every image is gray, and ÷ 255; every
    /// image must come out at the same size.
    /// </summary>
    public static DataSplits LoadFolder(string root, DataOptions options)
    {
        if (!Directory.Exists(root)) throw new ReparoInputException($"{root}: no such folder");
        string trainFolder = Path.Combine(root, "train"), testFolder = Path.Combine(root, "test"), validationFolder = Path.Combine(root, "val");
        if (!Directory.Exists(trainFolder) || !Directory.Exists(testFolder))
            throw new ReparoInputException($"{root}: an image folder needs train/CLASS/*.png and test/CLASS/*.png (and optionally val/CLASS/…)");
        IReadOnlyList<string> classes = options.ClassNames ?? Directory.GetDirectories(trainFolder).Select(d => Path.GetFileName(d)).Order(StringComparer.Ordinal).ToArray();
        if (classes.Count < 2) throw new ReparoInputException($"{trainFolder}: needs at least two class sub-folders, found {classes.Count}");
        string name = $"folder:{Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(root)))}";
        var reader = new ImageReader(options.ImageResizing);
        var index = classes.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i, StringComparer.Ordinal);
        int Label(string classFolder) => index.TryGetValue(Path.GetFileName(classFolder), out int label) ? label
            : throw new ReparoInputException($"{classFolder}: class '{Path.GetFileName(classFolder)}' is not one of {string.Join(", ", classes)}");
        var parts = new List<(string Part, DecodedImages Images)> { ("train", Decode(root, trainFolder, Label, reader)), ("test", Decode(root, testFolder, Label, reader)) };
        bool hasValidation = Directory.Exists(validationFolder);
        if (hasValidation) parts.Add(("validation", Decode(root, validationFolder, Label, reader)));
        if (parts[0].Images.Pixels.Count == 0) throw new ReparoInputException($"{trainFolder}: no .png or .jpg images");
        if (parts[1].Images.Pixels.Count == 0) throw new ReparoInputException($"{testFolder}: no .png or .jpg images");
        int channels = reader.AllGray ? 1 : 3;
        Dataset Make(int i) => ToDataset($"{name}/{parts[i].Part}", parts[i].Images, reader, channels, classes);
        Dataset train = Make(0), test = Make(1);
        (Dataset fit, Dataset validation) = hasValidation ? (train, Make(2)) : DataCatalog.HoldOut(train, options.ValidationFraction, options.SplitSeed, name);
        return new DataSplits(fit, validation, test) { ByteInputs = true, ImageResizing = options.ImageResizing };
    }

    /// <summary>
    /// Reads <c>CLASS/*.png|jpg|jpeg</c> under <paramref name="folder"/> as images for a model that reads
    /// <paramref name="channels"/> channels, decoded and resized as <see cref="LoadFolder"/> does them; a sub-folder
    /// names its images' label by a class name of <paramref name="classes"/> or by a class index. Each image is named by
    /// its path in the folder (<see cref="Dataset.SourceNames"/>). A colour image for a one-channel model is a one-line error.
    /// </summary>
    public static Dataset LoadImages(string folder, IReadOnlyList<string> classes, ImageResizing? resizing, int channels, string name)
    {
        if (!Directory.Exists(folder)) throw new ReparoInputException($"{folder}: no such folder");
        int Label(string classFolder)
        {
            string text = Path.GetFileName(classFolder);
            int label = classes.ToList().IndexOf(text);
            if (label < 0 && int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int i) && i < classes.Count) label = i;
            return label >= 0 ? label : throw new ReparoInputException($"{classFolder}: '{text}' is neither a class of the model ({string.Join(", ", classes)}) nor a class index");
        }
        if (channels is not (1 or 3)) throw new ReparoInputException($"{folder}: images have 1 or 3 channels; the model reads {channels}");
        var reader = new ImageReader(resizing);
        DecodedImages images = Decode(folder, folder, Label, reader);
        if (images.Pixels.Count == 0) throw new ReparoInputException($"{folder}: no .png or .jpg images in CLASS sub-folders");
        if (channels == 1 && !reader.AllGray) throw new ReparoInputException($"{folder}: colour images, but the model reads one channel");
        return ToDataset(name, images, reader, channels, classes);
    }

    /// <summary>Decoded images (RGB bytes), their labels and their paths relative to the tree's root.</summary>
    private sealed record DecodedImages(List<byte[]> Pixels, List<long> Labels, List<string> Files);

    /// <summary>Decodes every image of <paramref name="folder"/>'s class sub-folders (ordinal order), labelled by <paramref name="label"/>.</summary>
    private static DecodedImages Decode(string root, string folder, Func<string, int> label, ImageReader reader)
    {
        var images = new DecodedImages([], [], []);
        foreach (string classFolder in Directory.GetDirectories(folder).Order(StringComparer.Ordinal))
        {
            int classIndex = label(classFolder);
            foreach (string file in Directory.GetFiles(classFolder).Where(IsImage).Order(StringComparer.Ordinal))
            {
                images.Pixels.Add(reader.Read(file));
                images.Labels.Add(classIndex);
                images.Files.Add(Path.GetRelativePath(root, file));
            }
        }
        return images;
    }

    /// <summary>Decoded images as a dataset of <paramref name="channels"/>-channel float images in [0, 1] (one channel: the red one of gray images).</summary>
    private static Dataset ToDataset(string name, DecodedImages images, ImageReader reader, int channels, IReadOnlyList<string> classes)
    {
        using var scope = NewDisposeScope();
        var pixels = new byte[(long)images.Pixels.Count * 3 * reader.Height * reader.Width];
        for (int k = 0; k < images.Pixels.Count; k++) images.Pixels[k].CopyTo(pixels, (long)k * images.Pixels[k].Length);
        Tensor x = tensor(pixels, ScalarType.Byte).reshape(images.Pixels.Count, reader.Height, reader.Width, 3).permute(0, 3, 1, 2);
        if (channels == 1) x = x.narrow(1, 0, 1);
        return new Dataset(name, x.to(ScalarType.Float32).div_(255f).contiguous(), tensor(images.Labels.ToArray()), classes, InputKind.Image, sourceNames: images.Files);
    }

    private static bool IsImage(string path) => ImageExtensions.Contains(Path.GetExtension(path).ToLowerInvariant());

    /// <summary>
    /// Decodes images to RGB bytes, resizes them when asked (<see cref="DataOptions.ImageResizing"/>), and checks that
    /// they all come out at the first one's size and fit the limits.
    /// </summary>
    private sealed class ImageReader(ImageResizing? resizing)
    {
        private string? firstFile;
        private long totalBytes;

        public int Width { get; private set; }

        public int Height { get; private set; }

        public bool AllGray { get; private set; } = true;

        public byte[] Read(string path)
        {
            using SKCodec? codec = SKCodec.Create(path);
            if (codec is null) throw new ReparoInputException($"{path}: not a readable PNG or JPEG image");
            SKImageInfo info = codec.Info;
            if (info.Width < 1 || info.Height < 1 || info.Width > MaxImageSide || info.Height > MaxImageSide)
                throw new ReparoInputException($"{path}: {info.Width}×{info.Height} pixels; sides must be 1–{MaxImageSide}");
            (int height, int width) = resizing?.OutputSize(info.Height, info.Width) ?? (info.Height, info.Width);
            if (height > MaxImageSide || width > MaxImageSide)
                throw new ReparoInputException($"{path}: {resizing} makes it {width}×{height} pixels; sides must be 1–{MaxImageSide}");
            if (firstFile is null)
            {
                firstFile = path;
                Width = width;
                Height = height;
            }
            else if (width != Width || height != Height)
            {
                throw new ReparoInputException(resizing is null
                    ? $"{path}: {width}×{height} pixels, but {firstFile} is {Width}×{Height}; every image must have the same size: resize them as the model's PyTorch transform does with --resize and --center-crop (torchvision's Resize and CenterCrop), e.g. --resize 256 --center-crop 224"
                    : $"{path}: {resizing} makes it {width}×{height} pixels, but {firstFile} {Width}×{Height}; add --center-crop, or give --resize as HxW, so that every image comes out at one size");
            }
            totalBytes += 3L * Width * Height * sizeof(float);
            if (totalBytes > MaxFolderBytes) throw new ReparoInputException($"{path}: the images need more than the limit of {MaxFolderBytes} bytes as float32");
            using var bitmap = new SKBitmap(new SKImageInfo(info.Width, info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
            SKCodecResult result = codec.GetPixels(bitmap.Info, bitmap.GetPixels());
            if (result != SKCodecResult.Success)
                throw new ReparoInputException(result == SKCodecResult.IncompleteInput ? $"{path}: the image is truncated" : $"{path}: cannot decode the image ({result})");
            ReadOnlySpan<byte> rgba = bitmap.GetPixelSpan();
            var rgb = new byte[3L * info.Width * info.Height];
            int plane = info.Width * info.Height;
            bool gray = true;
            for (int p = 0; p < plane; p++)
            {
                byte r = rgba[4 * p], g = rgba[4 * p + 1], b = rgba[4 * p + 2];
                rgb[3 * p] = r;
                rgb[3 * p + 1] = g;
                rgb[3 * p + 2] = b;
                gray &= r == g && g == b;
            }
            AllGray &= gray;
            return resizing is null ? rgb : resizing.Apply(rgb, info.Height, info.Width, 3);
        }
    }
}
