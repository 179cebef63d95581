using Google.Protobuf;
using Reparo.Data;
using Reparo.Models;
using Reparo.Training;

namespace Reparo.Tests.Training;

/// <summary>The training curves written for TensorBoard, read back from the event file's records.</summary>
public class TensorBoardLogTests
{
    [Fact]
    public void EveryEpochsLossAccuracyAndRateAreInTheEventFile()
    {
        TestSupport.Init();
        DataSplits data = DataCatalog.Load("digits");
        string folder = Path.Combine(Path.GetTempPath(), $"reparo-tb-{Guid.NewGuid():N}");
        try
        {
            using Network network = ModelZoo.Create("mlp:16x1", data.Train, 0);
            var log = new TensorBoardLog(folder);
            TrainingReport report = Trainer.Train(network, data.Train, data.Validation,
                new TrainingOptions { Epochs = 3, BatchSize = 64, Patience = 0, Seed = 0 }, epochEnded: log.EpochEnded);

            string file = Assert.Single(Directory.GetFiles(folder, "*tfevents*", SearchOption.AllDirectories));
            List<(string Tag, float Value, long Step)> scalars = Scalars(File.ReadAllBytes(file));
            foreach (EpochRecord epoch in report.Epochs)
            {
                Assert.Contains(("train/loss", (float)epoch.TrainLoss, (long)epoch.Epoch), scalars);
                Assert.Contains(("validation/accuracy", (float)epoch.ValidationAccuracy!.Value, (long)epoch.Epoch), scalars);
                Assert.Contains(("train/learning_rate", (float)epoch.LearningRate, (long)epoch.Epoch), scalars);
            }
            Assert.Equal(3 * 4, scalars.Count);
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>
    /// The scalar summaries of a TFRecord event file: records framed as length (uint64), its masked CRC, data, its masked
    /// CRC; each an <c>Event</c> (step = field 2, summary = field 5) whose <c>Summary.Value</c>s (field 1) hold tag (1) and
    /// simple_value (2).
    /// </summary>
    private static List<(string, float, long)> Scalars(byte[] file)
    {
        var scalars = new List<(string, float, long)>();
        int at = 0;
        while (at < file.Length)
        {
            int length = checked((int)BitConverter.ToUInt64(file, at));
            var evt = new CodedInputStream(file, at + 12, length);
            at += 12 + length + 4;
            long step = 0;
            var values = new List<(string, float)>();
            for (uint tag; (tag = evt.ReadTag()) != 0;)
            {
                if (WireFormat.GetTagFieldNumber(tag) == 2) step = evt.ReadInt64();
                else if (WireFormat.GetTagFieldNumber(tag) == 5)
                {
                    var summary = new CodedInputStream(evt.ReadBytes().ToByteArray());
                    for (uint s; (s = summary.ReadTag()) != 0;)
                    {
                        if (WireFormat.GetTagFieldNumber(s) != 1) { summary.SkipLastField(); continue; }
                        var value = new CodedInputStream(summary.ReadBytes().ToByteArray());
                        string name = "";
                        float simple = float.NaN;
                        for (uint v; (v = value.ReadTag()) != 0;)
                        {
                            if (WireFormat.GetTagFieldNumber(v) == 1) name = value.ReadString();
                            else if (WireFormat.GetTagFieldNumber(v) == 2) simple = value.ReadFloat();
                            else value.SkipLastField();
                        }
                        values.Add((name, simple));
                    }
                }
                else evt.SkipLastField();
            }
            scalars.AddRange(values.Select(v => (v.Item1, v.Item2, step)));
        }
        return scalars;
    }
}
