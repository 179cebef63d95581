using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Reparo.Io;
using Reparo.Models;

namespace Reparo.Tests.Models;

/// <summary>Model files whose header lies: every one is a one-line input error, found before anything large is allocated.</summary>
public sealed class ModelFileHostileTests
{
    private static readonly byte[] Magic = [(byte)'R', (byte)'E', (byte)'P', (byte)'A', (byte)'R', (byte)'O', 0, 1];

    /// <summary>A valid <paramref name="architecture"/> (default mlp:10x2) file, its header edited by <paramref name="edit"/> (and its payload by <paramref name="payloadEdit"/>), checksum recomputed.</summary>
    private static byte[] Edited(Action<JsonObject> edit, Action<byte[]>? payloadEdit = null, string architecture = "mlp:10x2")
    {
        using Network network = ModelZoo.Create(architecture, TestSupport.RandomImages(2), 0);
        byte[] file = ModelFile.ToBytes(network);
        int length = BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan(8, 4));
        var header = JsonNode.Parse(Encoding.UTF8.GetString(file, 12, length))!.AsObject();
        byte[] payload = file[(12 + length)..];
        edit(header);
        payloadEdit?.Invoke(payload);
        header["payload_sha256"] = FramedFile.Checksum(payload);
        return FramedFile.Compose(Magic, header, payload);
    }

    private static string Rejection(byte[] file)
    {
        var clock = Stopwatch.StartNew();
        string message = Assert.Throws<ReparoInputException>(() => ModelFile.FromBytes(file, "hostile.reparo")).Message;
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
        Assert.DoesNotContain('\n', message);
        Assert.StartsWith("hostile.reparo: ", message);
        return message;
    }

    private static JsonObject Layer(JsonObject header, string name) =>
        header["network"]!["layers"]!.AsArray().Select(l => l!.AsObject()).First(l => (string)l["name"]! == name);

    [Fact]
    public void AHugeDeclaredLayerIsRefusedBeforeTorchAllocatesIt()
    {
        // A terabyte-sized Linear in a file of a few kilobytes.
        string message = Rejection(Edited(h => { Layer(h, "fc1")["in"] = 1_000_000; Layer(h, "fc1")["out"] = 1_000_000; }));
        Assert.Contains("the architecture needs at least 1000001", message);
    }

    [Fact]
    public void ALayerWithoutItsTypeIsRefused()
    {
        // Found by reparo fuzz model: System.Text.Json raises NotSupportedException, not JsonException, for a polymorphic
        // entry that lacks its type discriminator.
        string message = Rejection(Edited(h => Layer(h, "fc1").Remove("kind")));
        Assert.Contains("corrupt model header", message);
    }

    [Fact]
    public void NegativeAndZeroSizesAreRefused()
    {
        Assert.Contains("out is -5, it must be at least 1", Rejection(Edited(h => Layer(h, "fc1")["out"] = -5)));
        Assert.Contains("in is 0", Rejection(Edited(h => Layer(h, "fc2")["in"] = 0)));
        Assert.Contains("input shape", Rejection(Edited(h => h["network"]!["input_shape"] = new JsonArray(1, -28, 28))));
    }

    [Fact]
    public void ConvolutionGroupsThatDoNotSplitTheChannelsAreRefused()
    {
        // The cnn's first convolution maps 1 channel to 16.
        Assert.Contains("groups is 0", Rejection(Edited(h => Layer(h, "conv1")["groups"] = 0, architecture: "cnn")));
        Assert.Contains("1 input and 16 output channels do not split into 2 groups", Rejection(Edited(h => Layer(h, "conv1")["groups"] = 2, architecture: "cnn")));
    }

    [Fact]
    public void TensorTableLiesAreRefused()
    {
        Assert.Contains("appears twice", Rejection(Edited(h =>
        {
            JsonArray tensors = h["tensors"]!.AsArray();
            tensors.Add(tensors[0]!.DeepClone());
        })));
        Assert.Contains("negative dimension", Rejection(Edited(h => h["tensors"]![0]!["shape"] = new JsonArray(-10, -10))));
        Assert.Contains("overflow", Rejection(Edited(h => h["tensors"]![0]!["shape"] = new JsonArray(1L << 40, 1L << 40))));
        Assert.Contains("points outside the file", Rejection(Edited(h => h["tensors"]![0]!["offset"] = 1L << 40)));
        Assert.Contains("unknown element type 'complex128'", Rejection(Edited(h => h["tensors"]![0]!["dtype"] = "complex128")));
        Assert.Contains("lacks its name", Rejection(Edited(h => h["tensors"]![0]!.AsObject().Remove("name"))));
    }

    [Fact]
    public void NonFiniteWeightsAndMismatchedLayersAreRefused()
    {
        Assert.Contains("NaN or infinite", Rejection(Edited(_ => { }, payload => BitConverter.GetBytes(float.NaN).CopyTo(payload, 0))));
        Assert.Contains("10 outputs for 3 classes", Rejection(Edited(h => h["network"]!["class_names"] = new JsonArray("a", "b", "c"))));
    }
}
