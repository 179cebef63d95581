using Reparo.Data;
using Reparo.Models;
using Reparo.Repair;
using Reparo.Repair.Provable;
using Reparo.Runtime;
using static TorchSharp.torch;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Reparo.Tests;

/// <summary>Shared helpers: torch set-up, temporary folders, small synthetic datasets.</summary>
internal static class TestSupport
{
    static TestSupport() => TorchRuntime.Initialize(2);

    /// <summary>Makes sure torch is loaded with a fixed thread count (determinism depends on it).</summary>
    public static void Init() => TorchRuntime.Initialize(2);

    /// <summary>The checkout's root folder (the one holding Reparo.slnx).</summary>
    public static string RepoRoot()
    {
        for (string? dir = AppContext.BaseDirectory; dir is not null; dir = Path.GetDirectoryName(dir))
        {
            if (File.Exists(Path.Combine(dir, "Reparo.slnx"))) return dir;
        }
        throw new InvalidOperationException("repository root not found");
    }

    /// <summary>
    /// A float64 copy of <paramref name="network"/> with an LP solution's parameter changes added (every site, nested in
    /// ONNX blocks too): the repaired network, built independently of the repair's own write-back.
    /// </summary>
    public static Network WithChanges(Network network, IEnumerable<ParameterDelta> deltas, double[] x)
    {
        Network repaired = PlainRepairedModel.ToFloat64(network);
        using var noGrad = no_grad();
        foreach (ParameterDelta d in deltas)
        {
            AffineSite site = AffineSites.Find(repaired, d.Site);
            Tensor p = (d.IsBias ? site.Bias! : site.Weight).view(-1);
            p[d.Index] = p[d.Index] + d.ValueIn(x);
        }
        return repaired;
    }

    /// <summary>A fresh temporary folder, removed when disposed.</summary>
    public static TempFolder TempFolder() => new();

    /// <summary>Random images (N, 1, H, W) in [0, 1] with labels from a seeded generator.</summary>
    public static Dataset RandomImages(int n, int classes = 10, int size = 28, int seed = 1)
    {
        Init();
        var generator = new Generator((ulong)seed);
        Tensor x = rand([n, 1, size, size], generator: generator);
        Tensor y = randint(0, classes, [n], generator: generator);
        return new Dataset("random", x, y, Enumerable.Range(0, classes).Select(c => $"c{c}").ToArray(), InputKind.Image);
    }

    /// <summary>Random token sequences (left-padded) over a small vocabulary.</summary>
    public static Dataset RandomTokens(int n, int length = 12, int classes = 2, int seed = 1)
    {
        Init();
        var rng = new Random(seed);
        var vocabulary = new Vocabulary(new[] { "<pad>", "<unk>" }.Concat(Enumerable.Range(0, 30).Select(i => $"w{i}")).ToArray(), length);
        var ids = new long[n * length];
        for (int i = 0; i < n; i++)
        {
            int real = rng.Next(1, length + 1);
            for (int t = length - real; t < length; t++) ids[i * length + t] = rng.Next(2, vocabulary.Size);
        }
        Tensor y = tensor(Enumerable.Range(0, n).Select(_ => (long)rng.Next(classes)).ToArray());
        return new Dataset("tokens", tensor(ids).reshape(n, length), y, Enumerable.Range(0, classes).Select(c => $"c{c}").ToArray(), InputKind.Tokens, vocabulary);
    }
}

/// <summary>A temporary folder deleted on dispose.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "reparo-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        if (Directory.Exists(Path)) Directory.Delete(Path, recursive: true);
    }
}

/// <summary>Tensor comparisons for assertions.</summary>
internal static class TensorAssert
{
    /// <summary>Same shape and bit-for-bit equal values.</summary>
    public static bool SameAs(this Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();
}
