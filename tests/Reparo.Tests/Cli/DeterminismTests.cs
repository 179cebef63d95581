using Reparo.Cli.Cluster;

namespace Reparo.Tests.Cli;

/// <summary>
/// Same seed and thread count, same bytes (issue 17): train, repair, rectify and influence build each run twice into two
/// folders; their model files are byte-identical and their JSON is identical once timings and the run's own paths are set aside.
/// </summary>
public sealed class DeterminismTests
{
    /// <summary>Runs <paramref name="args"/> (with {F} for the output folder) in two fresh folders; returns both folders.</summary>
    private static (TempFolder A, TempFolder B) Twice(params string[] args)
    {
        TempFolder a = TestSupport.TempFolder(), b = TestSupport.TempFolder();
        InBoth(a, b, args);
        return (a, b);
    }

    /// <summary>Runs <paramref name="args"/> (with {F} for the folder) in <paramref name="a"/> and then in <paramref name="b"/>, same seed and threads.</summary>
    private static void InBoth(TempFolder a, TempFolder b, params string[] args)
    {
        foreach (TempFolder folder in new[] { a, b })
        {
            (int code, _, string err) = CliRunner.Run([.. args.Select(x => x.Replace("{F}", folder.Path)), "--threads", "2", "--seed", "7", "--quiet"]);
            Assert.True(code == 0, err);
        }
    }

    private static void SameBytes(TempFolder a, TempFolder b, string file) =>
        Assert.True(File.ReadAllBytes(a.File(file)).SequenceEqual(File.ReadAllBytes(b.File(file))), $"{file} differs between two runs with the same seed and threads");

    /// <summary>The JSON with every timing field removed and the run folder's path replaced.</summary>
    private static string WithoutTimings(TempFolder folder, string file) => ResultJson.WithoutTimings(File.ReadAllText(folder.File(file)).Replace(folder.Path, "{F}"));

    private static void SameJson(TempFolder a, TempFolder b, string file) => Assert.Equal(WithoutTimings(a, file), WithoutTimings(b, file));

    /// <summary>A framed file's header (timings removed, the checksum kept) and payload.</summary>
    private static (string Header, byte[] Payload) Framed(string path)
    {
        byte[] file = File.ReadAllBytes(path);
        int length = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan(8, 4));
        return (ResultJson.WithoutTimings(System.Text.Encoding.UTF8.GetString(file, 12, length)), file[(12 + length)..]);
    }

    [Fact]
    public void TrainAndRepairGiveTheSameBytes()
    {
        (TempFolder a, TempFolder b) = Twice("train", "--data", "digits", "--arch", "mlp:16x2", "--epochs", "3", "--out", "{F}/m.reparo", "--json", "{F}/train.json");
        using (a)
        using (b)
        {
            SameBytes(a, b, "m.reparo");
            SameJson(a, b, "train.json");
            InBoth(a, b, "repair", "--method", "provable", "--model", "{F}/m.reparo", "--data", "digits", "--repair-set", "fog:3:5",
                "--layer", "fc2", "--preserve", "20", "--out", "{F}/r.reparo", "--json", "{F}/repair.json");
            SameBytes(a, b, "r.reparo");
            SameJson(a, b, "repair.json");
        }
    }

    [Fact]
    public void RectifyGivesTheSameBytes()
    {
        (TempFolder a, TempFolder b) = Twice("train", "--data", "digits", "--arch", "mlp:32x2", "--epochs", "4", "--poison", "badnets:0.1:0", "--out", "{F}/t.reparo");
        using (a)
        using (b)
        {
            SameBytes(a, b, "t.reparo");
            InBoth(a, b, "rectify", "--model", "{F}/t.reparo", "--data", "digits", "--pairs", "trojan:1", "--mode", "static",
                "--out", "{F}/fixed.reparo", "--json", "{F}/rectify.json");
            SameBytes(a, b, "fixed.reparo");
            SameJson(a, b, "rectify.json");
        }
    }

    [Fact]
    public void InfluenceBuildGivesTheSameBytes()
    {
        (TempFolder a, TempFolder b) = Twice("train", "--data", "digits", "--arch", "lstm:8", "--epochs", "1", "--train-limit", "200", "--out", "{F}/l.reparo");
        using (a)
        using (b)
        {
            SameBytes(a, b, "l.reparo");
            InBoth(a, b, "influence", "build", "--model", "{F}/l.reparo", "--data", "digits", "--train-limit", "200",
                "--out", "{F}/l.influence", "--pca", "3", "--k", "3,4", "--theta", "0", "--json", "{F}/build.json");
            // The influence file records its build times in its header: the payload is byte-identical, the header with the times set aside.
            (string headerA, byte[] payloadA) = Framed(a.File("l.influence"));
            (string headerB, byte[] payloadB) = Framed(b.File("l.influence"));
            Assert.True(payloadA.SequenceEqual(payloadB), "the influence model's arrays differ between two runs with the same seed and threads");
            Assert.Equal(headerA, headerB);
            SameJson(a, b, "build.json");
        }
    }
}
