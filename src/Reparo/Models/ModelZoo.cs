using System.Text.RegularExpressions;
using Reparo.Data;
using static TorchSharp.torch;

namespace Reparo.Models;

/// <summary>
/// Builds networks from short specifications:
/// <list type="bullet">
/// <item><c>mlp:WxL</c> — L linear layers, hidden width W (<c>mlp:100x3</c> is 784-100-100-10): flatten, fc1, relu1, …, fcL.</item>
/// <item><c>cnn</c> — conv1 (16), relu1, pool1, conv2 (32), relu2, pool2, flatten, fc1 (128), relu3, fc2.</item>
/// <item><c>resnet</c> — a small residual network: conv1 (16), relu1, block1 (residual, 16), pool1, conv2 (32), relu2,
/// block2 (residual, 32), pool2, flatten, fc1; each block's convolutions are <c>block1.conv1</c>, <c>block1.conv2</c>, ….</item>
/// <item><c>lstm:H</c>, <c>gru:H</c> — over image rows (rows, lstm|gru, head) or over tokens (embed, lstm|gru, head).</item>
/// <item><c>vit</c> — a tiny vision transformer: patch (7×7, dim 64), block1, block2 (4 heads, MLP 128), norm, cls, head.</item>
/// <item><c>text:D</c> — a bag-of-embeddings text classifier: embed (mean of D-dim embeddings), fc1, relu1, fc2.</item>
/// </list>
/// Names are stable: linear layers of MLPs and CNNs are fc1, fc2, …; convolutions conv1, …; activations relu1, …;
/// the classifier of recurrent, transformer and text models is <c>head</c>.
/// </summary>
public static partial class ModelZoo
{
    /// <summary>The specifications the zoo understands, for help texts.</summary>
    public const string SpecHelp = "mlp:WxL | cnn | resnet | lstm:H | gru:H | vit | text:D";

    /// <summary>The architectures <c>reparo bench train</c> measures on Fashion-MNIST.</summary>
    public static readonly IReadOnlyList<string> ImageBenchmarkArchitectures = ["mlp:100x3", "mlp:200x9", "cnn", "lstm:128", "gru:128", "vit"];

    /// <summary>Builds a network for data shaped like <paramref name="data"/>, with weights initialised from <paramref name="seed"/>.</summary>
    public static Network Create(string architecture, Dataset data, int seed) =>
        Create(architecture, data.SampleShape, data.Kind, data.ClassNames, data.Vocabulary, seed);

    /// <summary>Builds a network for the given input and classes, with weights initialised from <paramref name="seed"/>.</summary>
    public static Network Create(string architecture, long[] inputShape, InputKind kind, IReadOnlyList<string> classNames, Vocabulary? vocabulary, int seed)
    {
        NetworkSpec spec = Describe(architecture, inputShape, kind, classNames, vocabulary);
        manual_seed(seed);
        return new Network(spec);
    }

    /// <summary>The layer list for an architecture, without building it.</summary>
    public static NetworkSpec Describe(string architecture, long[] inputShape, InputKind kind, IReadOnlyList<string> classNames, Vocabulary? vocabulary)
    {
        string arch = architecture.Trim().ToLowerInvariant();
        int classes = classNames.Count;
        if (classes < 2) throw new ReparoInputException($"a classifier needs at least two classes, got {classes}");
        var layers = new LayerNames();
        List<LayerSpec> list;
        Match m;
        if ((m = MlpPattern().Match(arch)).Success)
        {
            int width = int.Parse(m.Groups[1].Value), depth = int.Parse(m.Groups[2].Value);
            if (width < 1 || depth < 1) throw new ReparoInputException($"'{architecture}': width and depth must be positive");
            list = [new FlattenSpec("flatten")];
            list.AddRange(Mlp(layers, checked((int)FeatureCount(inputShape, kind, architecture)), width, depth, classes));
        }
        else if (arch == "cnn")
        {
            long[] image = ImageShape(inputShape, kind, architecture);
            if (image[1] % 4 != 0 || image[2] % 4 != 0) throw new ReparoInputException($"cnn needs image sides divisible by 4, got {image[1]}×{image[2]}");
            list =
            [
                new Conv2dSpec(layers.Next("conv"), (int)image[0], 16, 3, 1, 1), new ReluSpec(layers.Next("relu")), new MaxPool2dSpec(layers.Next("pool"), 2),
                new Conv2dSpec(layers.Next("conv"), 16, 32, 3, 1, 1), new ReluSpec(layers.Next("relu")), new MaxPool2dSpec(layers.Next("pool"), 2),
                new FlattenSpec("flatten"),
                new LinearSpec(layers.Next("fc"), (int)(32 * (image[1] / 4) * (image[2] / 4)), 128), new ReluSpec(layers.Next("relu")),
                new LinearSpec(layers.Next("fc"), 128, classes),
            ];
        }
        else if (arch == "resnet")
        {
            long[] image = ImageShape(inputShape, kind, architecture);
            if (image[1] % 4 != 0 || image[2] % 4 != 0) throw new ReparoInputException($"resnet needs image sides divisible by 4, got {image[1]}×{image[2]}");
            list =
            [
                new Conv2dSpec(layers.Next("conv"), (int)image[0], 16, 3, 1, 1), new ReluSpec(layers.Next("relu")),
                new ResidualBlockSpec(layers.Next("block"), 16), new MaxPool2dSpec(layers.Next("pool"), 2),
                new Conv2dSpec(layers.Next("conv"), 16, 32, 3, 1, 1), new ReluSpec(layers.Next("relu")),
                new ResidualBlockSpec(layers.Next("block"), 32), new MaxPool2dSpec(layers.Next("pool"), 2),
                new FlattenSpec("flatten"),
                new LinearSpec(layers.Next("fc"), (int)(32 * (image[1] / 4) * (image[2] / 4)), classes),
            ];
        }
        else if ((m = RecurrentPattern().Match(arch)).Success)
        {
            RecurrentCell cell = m.Groups[1].Value == "lstm" ? RecurrentCell.Lstm : RecurrentCell.Gru;
            int hidden = int.Parse(m.Groups[2].Value);
            if (hidden < 1) throw new ReparoInputException($"'{architecture}': hidden size must be positive");
            int features;
            list = [];
            if (kind == InputKind.Tokens)
            {
                features = 64;
                list.Add(new EmbeddingSpec("embed", RequireVocabulary(vocabulary, architecture).Size, features));
            }
            else
            {
                long[] image = ImageShape(inputShape, kind, architecture);
                features = (int)(image[0] * image[2]);
                list.Add(new ImageRowsSpec("rows"));
            }
            list.Add(new RecurrentSpec(m.Groups[1].Value, cell, features, hidden));
            list.Add(new LinearSpec("head", hidden, classes));
        }
        else if (arch == "vit")
        {
            long[] image = ImageShape(inputShape, kind, architecture);
            int patch = image[1] % 7 == 0 && image[2] % 7 == 0 ? 7 : image[1] % 4 == 0 && image[2] % 4 == 0 ? 4 : 1;
            const int dim = 64;
            list =
            [
                new PatchEmbeddingSpec("patch", (int)image[0], (int)image[1], (int)image[2], patch, dim),
                new TransformerBlockSpec("block1", dim, 4, 128), new TransformerBlockSpec("block2", dim, 4, 128),
                new LayerNormSpec("norm", dim), new ClassTokenSpec("cls"), new LinearSpec("head", dim, classes),
            ];
        }
        else if ((m = TextPattern().Match(arch)).Success)
        {
            if (kind != InputKind.Tokens) throw new ReparoInputException($"'{architecture}' is a text classifier; it needs token data such as wordnet:animal,plant");
            int dim = int.Parse(m.Groups[1].Value);
            if (dim < 1) throw new ReparoInputException($"'{architecture}': dimension must be positive");
            list =
            [
                new MeanEmbeddingSpec("embed", RequireVocabulary(vocabulary, architecture).Size, dim),
                new LinearSpec(layers.Next("fc"), dim, dim), new ReluSpec(layers.Next("relu")), new LinearSpec(layers.Next("fc"), dim, classes),
            ];
        }
        else
        {
            throw new ReparoInputException($"unknown architecture '{architecture}'; expected {SpecHelp}");
        }
        return new NetworkSpec(arch, inputShape, kind, classNames, list, kind == InputKind.Tokens ? vocabulary!.Tokens : null);
    }

    private static IEnumerable<LayerSpec> Mlp(LayerNames layers, int input, int width, int depth, int classes)
    {
        int from = input;
        for (int i = 1; i < depth; i++)
        {
            yield return new LinearSpec(layers.Next("fc"), from, width);
            yield return new ReluSpec(layers.Next("relu"));
            from = width;
        }
        yield return new LinearSpec(layers.Next("fc"), from, classes);
    }

    private static long FeatureCount(long[] shape, InputKind kind, string architecture)
    {
        if (kind == InputKind.Tokens) throw new ReparoInputException($"'{architecture}' reads images or feature vectors, not token ids; use text:D, lstm:H or gru:H for text");
        return shape.Aggregate(1L, (a, b) => a * b);
    }

    private static long[] ImageShape(long[] shape, InputKind kind, string architecture)
    {
        if (kind != InputKind.Image || shape.Length != 3)
            throw new ReparoInputException($"'{architecture}' needs images (C, H, W); this data holds {kind.ToString().ToLowerInvariant()} of shape [{string.Join(",", shape)}]");
        return shape;
    }

    private static Vocabulary RequireVocabulary(Vocabulary? vocabulary, string architecture) =>
        vocabulary ?? throw new ReparoInputException($"'{architecture}' on tokens needs the data's vocabulary");

    private sealed class LayerNames
    {
        private readonly Dictionary<string, int> counts = [];

        public string Next(string prefix)
        {
            int n = counts.GetValueOrDefault(prefix) + 1;
            counts[prefix] = n;
            return prefix + n;
        }
    }

    [GeneratedRegex(@"^mlp:(\d+)x(\d+)$")]
    private static partial Regex MlpPattern();

    [GeneratedRegex(@"^(lstm|gru):(\d+)$")]
    private static partial Regex RecurrentPattern();

    [GeneratedRegex(@"^text:(\d+)$")]
    private static partial Regex TextPattern();
}
