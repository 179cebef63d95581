using Onnx;
using Reparo.Data;
using Reparo.Models;
using Reparo.Models.Onnx;
using Reparo.Repair;
using Reparo.Repair.Provable;
using Reparo.Verification;
using static TorchSharp.torch;

namespace Reparo.Tests.Models;

/// <summary>Input preprocessing belongs to the model: data, corruptions and repair sets stay raw, and the model applies it in its forward pass.</summary>
public sealed class ModelPreprocessingTests
{
    // Fashion-MNIST's pixel mean and standard deviation (0.286, 0.353), after a scale of 2.
    private const float Scale = 2, Mean = 0.572f, Std = 0.706f;

    private static readonly InputPreprocessing Preprocessing = InputPreprocessing.Parse("0.572:0.706", null, Scale)!;

    private static DataSplits FashionMnist() =>
        DataCatalog.Load("fashion-mnist", new DataOptions { TrainLimit = 200, TestLimit = 200 });

    /// <summary>The preprocessing written out by hand: scale, then subtract the mean and divide by the standard deviation.</summary>
    private static Tensor ByHand(Tensor raw) => raw.mul(Scale).sub(Mean).div(Std);

    private static Network WithPreprocessing(Network network)
    {
        network.Provenance = network.Provenance with { Preprocessing = Preprocessing };
        return network;
    }

    [Fact]
    public void FogCorruptsTheRawImagesAndTheModelNormalisesThemItself()
    {
        TestSupport.Init();
        DataSplits data = FashionMnist();
        Network network = WithPreprocessing(ModelZoo.Create("mlp:16x1", data.Train, seed: 0));

        RepairProblem problem = RepairSetSpec.Build("fog:3:3", network, data, seed: 0);

        // The repair inputs are the fog of the raw test images, and their counterparts the raw images themselves.
        Dataset fogged = Corruptions.Apply(data.Test, Corruption.Fog, 3, seed: 0);
        List<int> sources = [.. data.Test.SourceIndices];
        Assert.Equal(3, problem.RepairSet.Regions.Count);
        foreach (RepairRegion region in problem.RepairSet.Regions)
        {
            int row = sources.IndexOf(int.Parse(region.Id[(region.Id.LastIndexOf('#') + 1)..]));
            Assert.True(region.Vertices.SameAs(fogged.X.narrow(0, row, 1)), region.Id);
            Assert.True(region.Counterpart!.SameAs(data.Test.X.narrow(0, row, 1)), region.Id);
        }
        // The model's logits on raw inputs are its layers' on the inputs preprocessed by hand, as is a reloaded file's.
        Tensor raw = data.Test.X.narrow(0, 0, 20);
        using Tensor layers = network.Forward(ByHand(raw), 0, network.Layers.Count);
        Assert.True(network.Logits(raw).sub(layers).abs().max().item<float>() <= 1e-6);
        Assert.True(ModelFile.FromBytes(ModelFile.ToBytes(network), "m").Logits(raw).sub(layers).abs().max().item<float>() <= 1e-6);
        Assert.True(network.Forward(raw, 0, network.Layers.Count).sub(layers).abs().max().item<float>() > 1e-3);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ProvableRepairWithPreprocessingVerifiesAndTheOnnxExportReadsPreprocessedInputs(bool imported)
    {
        TestSupport.Init();
        DataSplits data = FashionMnist();
        Network network = WithPreprocessing(imported
            ? OnnxImporter.Import(Path.Combine(OnnxImportTests.Fixture("mlp"), "model.onnx"))
            : ModelZoo.Create("mlp:16x1", data.Train, seed: 0));
        RepairProblem problem = RepairSetSpec.Build("fog:3:3", network, data, seed: 0);
        string layer = network.Layers.Last(l => l.Spec is LinearSpec).Name;

        RepairResult result = new ProvableRepair(new ProvableRepairOptions { Layer = layer }).Repair(problem);

        Assert.True(result.Verified, result.Message);
        Network repaired = result.Model!.PlainNetwork!;
        repaired.OnnxOrigin = network.OnnxOrigin;
        OnnxExport export = OnnxExporter.Build(repaired);
        (Tensor vertices, _, _) = problem.RepairSet.Stacked();
        Tensor raw = cat([vertices, data.Test.X.narrow(0, 0, 20)], 0);
        using Tensor runtime = OnnxRuntimeCheck.Run(export.Bytes, ByHand(raw));
        double difference = runtime.sub(repaired.Logits(raw)).abs().max().item<float>();
        Assert.True(difference <= 1e-5, $"max |ORT on preprocessed inputs − Reparo on raw inputs| = {difference}");
        Assert.True(RepairVerifier.VerifyInOnnxRuntime(export.Bytes, repaired, problem.RepairSet).Verified);

        ModelProto written = ModelProto.Parser.ParseFrom(export.Bytes);
        if (imported)
        {
            // Still the user's graph, with nothing about the preprocessing their own runtime applies.
            ModelProto original = ModelProto.Parser.ParseFrom(network.OnnxOrigin!.ModelBytes);
            Assert.Equal(original.Graph.Node, written.Graph.Node);
            Assert.Equal(original.MetadataProps, written.MetadataProps);
            return;
        }
        // A zoo export records the preprocessing in its metadata, and importing the file restores the same function.
        Network reimported = OnnxImporter.Import(export.Bytes, "repaired.onnx", null, new OnnxImportOptions());
        Assert.Equal(Preprocessing.ToString(), reimported.Provenance.Preprocessing!.ToString());
        Assert.True(reimported.Logits(raw).sub(repaired.Logits(raw)).abs().max().item<float>() <= 1e-5);
    }
}
