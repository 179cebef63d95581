using System.Security.Cryptography;
using System.Text;
using Reparo.Models;
using Reparo.Tests.Data;
using static TorchSharp.torch;

namespace Reparo.Tests.Cli;

/// <summary>The inputs a bad-input case reads: a small digits model, a small feature model and its CSV, made once.</summary>
public sealed class BadInputFiles : IDisposable
{
    private readonly TempFolder dir = TestSupport.TempFolder();

    public BadInputFiles()
    {
        Folder = dir.Path;
        StringBuilder csv = new("a,b,c,label\n");
        for (int i = 0; i < 90; i++) csv.Append(FormattableString.Invariant($"{i % 7 * 0.1},{i % 5 * 0.2},{i % 3 * 0.3},{i % 3}\n"));
        System.IO.File.WriteAllText(File("good.csv"), csv.ToString());
        Expect(CliRunner.Run("train", "--data", "digits", "--arch", "mlp:16x1", "--epochs", "2", "--out", File("digits.reparo"), "--threads", "2"));
        Expect(CliRunner.Run("train", "--data", "digits", "--arch", "lstm:4", "--epochs", "1", "--train-limit", "100", "--out", File("lstm.reparo"), "--threads", "2"));
        Expect(CliRunner.Run("train", "--data", $"csv:{File("good.csv")}", "--arch", "mlp:8x1", "--epochs", "2", "--out", File("features.reparo"), "--threads", "2"));
    }

    public string Folder { get; }

    public string File(string name) => Path.Combine(Folder, name);

    private static void Expect((int Code, string Out, string Err) run)
    {
        if (run.Code != 0) throw new InvalidOperationException($"fixture failed: {run.Err}");
    }

    public void Dispose() => dir.Dispose();
}

/// <summary>
/// The bad-input matrix through the command line (issue 17): every case exits 2 with one line on stderr that names the
/// problem, writes no file, and leaves every input byte-identical.
/// </summary>
public sealed class BadInputMatrixTests(BadInputFiles files) : IClassFixture<BadInputFiles>
{
    /// <summary>Case name → what to write before the run (into a fresh folder) and the command line; {F} is that folder, {D} the digits model, {M} the feature model, {C} its CSV, {L} a recurrent digits model.</summary>
    private static readonly Dictionary<string, (Action<string> Prepare, string[] Args, string Says)> Cases = new()
    {
        ["missing model file"] = (_ => { }, ["eval", "--model", "{F}/none.reparo", "--data", "digits"], "not found"),
        ["model path is a folder"] = (f => Directory.CreateDirectory(Path.Combine(f, "dir.reparo")), ["eval", "--model", "{F}/dir.reparo", "--data", "digits"], "not found"),
        ["model is text"] = (f => File.WriteAllText(Path.Combine(f, "t.reparo"), "hello"), ["eval", "--model", "{F}/t.reparo", "--data", "digits"], "not a Reparo model file"),
        ["model is an empty file"] = (f => File.WriteAllBytes(Path.Combine(f, "e.reparo"), []), ["eval", "--model", "{F}/e.reparo", "--data", "digits"], "not a Reparo model file"),
        ["onnx is garbage"] = (f => File.WriteAllText(Path.Combine(f, "g.onnx"), "not a protobuf at all"), ["eval", "--model", "{F}/g.onnx", "--data", "digits"], "g.onnx"),
        ["NaN weights"] = (f => NanModel(f), ["eval", "--model", "{F}/nan.reparo", "--data", "digits"], "NaN"),
        ["NaN feature in CSV"] = (f => File.WriteAllText(Path.Combine(f, "nan.csv"), "a,b,c,label\n0.1,0.2,0.3,0\n0.1,0.2,NaN,1\n"), ["eval", "--model", "{M}", "--data", "csv:{F}/nan.csv"], "non-finite"),
        ["Inf feature in CSV"] = (f => File.WriteAllText(Path.Combine(f, "inf.csv"), "0.1,0.2,0.3,1\n0.1,Infinity,0.3,0\n"), ["eval", "--model", "{M}", "--data", "csv:{F}/inf.csv"], "non-finite"),
        ["ragged CSV"] = (f => File.WriteAllText(Path.Combine(f, "r.csv"), "0.1,0.2,0.3,1\n0.1,0.3,0\n"), ["eval", "--model", "{M}", "--data", "csv:{F}/r.csv"], "fields, expected"),
        ["NaN input in npz"] = (f => Npz(f, "nan.npz", float.NaN), ["eval", "--model", "{D}", "--data", "npz:{F}/nan.npz"], "NaN"),
        ["Inf input in npz"] = (f => Npz(f, "inf.npz", float.PositiveInfinity), ["eval", "--model", "{D}", "--data", "npz:{F}/inf.npz"], "infinite"),
        ["label out of range in npz"] = (f => Npz(f, "label.npz", 0.5f, label: 10), ["eval", "--model", "{D}", "--data", "npz:{F}/label.npz"], "label"),
        ["negative label in npz"] = (f => Npz(f, "negative.npz", 0.5f, label: -1), ["eval", "--model", "{D}", "--data", "npz:{F}/negative.npz"], "label"),
        ["npz without x_test"] = (f => UserDataFiles.Npz(Path.Combine(f, "part.npz"), ("x_train", zeros(2, 1, 8, 8)), ("y_train", zeros(2, ScalarType.Int64))), ["eval", "--model", "{D}", "--data", "npz:{F}/part.npz"], "x_test"),
        ["feature model on image data"] = (_ => { }, ["eval", "--model", "{M}", "--data", "digits"], "does not match"),
        ["image model on feature data"] = (_ => { }, ["eval", "--model", "{D}", "--data", "csv:{C}"], "does not match"),
        ["unknown data spec"] = (_ => { }, ["eval", "--model", "{D}", "--data", "nosuch:thing"], "nosuch"),
        ["unknown option"] = (_ => { }, ["eval", "--model", "{D}", "--data", "digits", "--bogus", "1"], "--bogus"),
        ["non-integer seed"] = (_ => { }, ["eval", "--model", "{D}", "--data", "digits", "--seed", "x"], "x"),
        ["zero threads"] = (_ => { }, ["eval", "--model", "{D}", "--data", "digits", "--threads", "0"], "threads"),
        ["negative epochs"] = (_ => { }, ["train", "--data", "digits", "--arch", "mlp:8x1", "--epochs", "-1", "--out", "{F}/out.reparo"], "epochs"),
        ["unknown architecture"] = (_ => { }, ["train", "--data", "digits", "--arch", "nosuch:1", "--epochs", "1", "--out", "{F}/out.reparo"], "nosuch"),
        ["unknown method"] = (_ => { }, ["repair", "--method", "nosuch", "--model", "{D}", "--data", "digits", "--repair-set", "fog:3:2"], "nosuch"),
        ["unknown layer"] = (_ => { }, ["repair", "--method", "provable", "--model", "{D}", "--data", "digits", "--repair-set", "fog:3:2", "--layer", "fc9"], "fc9"),
        ["malformed repair set"] = (_ => { }, ["repair", "--method", "provable", "--model", "{D}", "--data", "digits", "--repair-set", "fog:x:2"], "fog:x:2"),
        ["empty repair set"] = (_ => { }, ["repair", "--method", "provable", "--model", "{D}", "--data", "digits", "--repair-set", "fog:3:0"], "fog:3:0"),
        ["empty repair-set file"] = (f => File.WriteAllText(Path.Combine(f, "empty.json"), "{\"inputs\": [], \"labels\": []}"), ["repair", "--method", "provable", "--model", "{D}", "--data", "digits", "--repair-set", "file:{F}/empty.json"], "empty"),
        ["one input asked to be two classes"] = (f => DuplicateRepairSet(f), ["repair", "--method", "provable", "--model", "{D}", "--data", "digits", "--repair-set", "file:{F}/twice.json", "--layer", "fc1"], "no model can do both"),
        ["unknown solver"] = (_ => { }, ["repair", "--method", "provable", "--model", "{D}", "--data", "digits", "--repair-set", "fog:3:2", "--solver", "nosuch"], "nosuch"),
        ["unknown solver option"] = (_ => { }, ["repair", "--method", "provable", "--model", "{D}", "--data", "digits", "--repair-set", "fog:3:2", "--layer", "fc1", "--solver-option", "no_such_option=1"], "no_such_option"),
        ["LP above --max-memory"] = (_ => { }, ["repair", "--method", "provable", "--model", "{D}", "--data", "digits", "--repair-set", "fog:3:5", "--layer", "fc1", "--max-memory", "64K", "--out", "{F}/out.reparo"], "above --max-memory"),
        ["malformed --max-memory"] = (_ => { }, ["repair", "--method", "provable", "--model", "{D}", "--data", "digits", "--repair-set", "fog:3:5", "--layer", "fc1", "--max-memory", "lots"], "--max-memory 'lots'"),
        ["influence build above --max-memory"] = (_ => { }, ["influence", "build", "--model", "{L}", "--data", "digits", "--out", "{F}/l.influence", "--max-memory", "4K"], "above --max-memory"),
        ["NaN epsilon"] = (_ => { }, ["repair", "--method", "provable", "--model", "{D}", "--data", "digits", "--repair-set", "fog:3:2", "--epsilon", "NaN"], "epsilon"),
        ["negative preserve"] = (_ => { }, ["repair", "--method", "provable", "--model", "{D}", "--data", "digits", "--repair-set", "fog:3:2", "--preserve", "-3"], "preserve"),
        ["infeasible LP"] = (_ => { }, ["repair", "--method", "provable", "--model", "{D}", "--data", "digits", "--repair-set", "fog:3:20", "--layer", "fc1", "--bound", "0.000001", "--preserve", "0", "--out", "{F}/out.reparo"], "infeasible"),
        ["solver time-out"] = (_ => { }, ["repair", "--method", "provable", "--model", "{D}", "--data", "digits", "--repair-set", "fog:3:20", "--layer", "fc1", "--time-limit", "0.000001", "--preserve", "0", "--out", "{F}/out.reparo"], "time"),
        ["output folder is a file"] = (f => File.WriteAllText(Path.Combine(f, "plain"), "x"), ["eval", "--model", "{D}", "--data", "digits", "--json", "{F}/plain/x.json"], "folder"),
        ["output is the input model"] = (_ => { }, ["eval", "--model", "{D}", "--data", "digits", "--json", "{D}"], "would overwrite the input"),
        ["output is a link to the input"] = (f => File.CreateSymbolicLink(Path.Combine(f, "link.reparo"), Path.Combine(Path.GetDirectoryName(f)!, "digits.reparo")),
            ["eval", "--model", "{D}", "--data", "digits", "--json", "{F}/link.reparo"], "would overwrite the input"),
        ["explain index out of range"] = (_ => { }, ["explain", "--model", "{D}", "--data", "digits", "--index", "100000"], "100000"),
        ["influence file that is a model"] = (_ => { }, ["influence", "query", "--influence", "{D}", "--data", "digits", "--index", "0"], "influence"),
        ["rectify a model that records no poisoning"] = (_ => { }, ["rectify", "--model", "{D}", "--data", "digits", "--pairs", "trojan:2"], "--poison"),
        ["rectify pairs file missing"] = (_ => { }, ["rectify", "--model", "{D}", "--data", "digits", "--pairs", "npz:{F}/none.npz"], "none.npz"),
    };

    public static TheoryData<string> CaseNames() => [.. Cases.Keys];

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void BadInputExitsTwoWithOneLineAndTouchesNothing(string name)
    {
        (Action<string> prepare, string[] template, string says) = Cases[name];
        string folder = Path.Combine(files.Folder, "case-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(name)))[..12]);
        Directory.CreateDirectory(folder);
        prepare(folder);
        Dictionary<string, string> before = Snapshot(files.Folder);
        string[] args = [.. template.Select(a => a.Replace("{F}", folder).Replace("{D}", files.File("digits.reparo")).Replace("{M}", files.File("features.reparo")).Replace("{C}", files.File("good.csv")).Replace("{L}", files.File("lstm.reparo")))];

        (int code, _, string err) = CliRunner.Run([.. args, "--threads", "2"]);

        Assert.True(code == 2, $"{name}: exit {code}: {err}");
        string[] lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"{name}: stderr has {lines.Length} lines: {err}");
        Assert.True(lines[0].Contains(says, StringComparison.OrdinalIgnoreCase), $"{name}: '{lines[0]}' does not say '{says}'");
        Assert.DoesNotContain("internal error", lines[0]);
        Assert.Equal(before, Snapshot(files.Folder));
    }

    [Theory]
    [InlineData("max_linking_share=2", "max_linking_share must be a number in (0, 1]")]
    [InlineData("no_such_option=1", "no_such_option")]
    public void ABadSolverOptionIsRefusedBeforeTheRepairSetIsBuilt(string option, string says)
    {
        (int code, string output, string err) = CliRunner.Run("repair", "--method", "provable", "--model", files.File("digits.reparo"), "--data", "digits",
            "--repair-set", "fog:3:2", "--layer", "fc1", "--solver-option", option, "--threads", "2");

        Assert.Equal(2, code);
        Assert.Contains(says, err);
        Assert.DoesNotContain("repair set", output + err);
    }

    /// <summary>Every file under <paramref name="root"/> with its SHA-256 (links by their own path).</summary>
    private static Dictionary<string, string> Snapshot(string root) =>
        Directory.GetFiles(root, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
            .ToDictionary(f => f, f => new FileInfo(f).LinkTarget is string target ? "link→" + target : Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(f))));

    private static void NanModel(string folder)
    {
        using Network network = ModelZoo.Create("mlp:8x1", TestSupport.RandomImages(2, size: 8), 0);
        using (no_grad()) network.Layers[1].Module.parameters().First()[0, 0] = tensor(float.NaN);
        ModelFile.Save(network, Path.Combine(folder, "nan.reparo"));
    }

    private static void Npz(string folder, string name, float value, long label = 1)
    {
        Tensor x = full(4, 1, 8, 8, value);
        Tensor y = tensor(new[] { 0L, label, 2L, 3L });
        UserDataFiles.Npz(Path.Combine(folder, name), ("x_train", x), ("y_train", y), ("x_test", x), ("y_test", y));
    }

    private static void DuplicateRepairSet(string folder)
    {
        string row = "[" + string.Join(",", Enumerable.Repeat("0.5", 8)) + "]";
        string image = "[[" + string.Join(",", Enumerable.Repeat(row, 8)) + "]]";
        File.WriteAllText(Path.Combine(folder, "twice.json"), $"{{\"inputs\": [{image}, {image}], \"labels\": [3, 4]}}");
    }
}
