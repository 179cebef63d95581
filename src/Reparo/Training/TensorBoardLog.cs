using Reparo.Models;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Reparo.Training;

/// <summary>
/// Training curves for TensorBoard: after every epoch, the mean training loss (<c>train/loss</c>), the validation
/// accuracy (<c>validation/accuracy</c>, when there is a validation set), the learning rate (<c>train/learning_rate</c>)
/// and the epoch's seconds (<c>train/epoch_seconds</c>), with the epoch as the step, written through TorchSharp's
/// <c>SummaryWriter</c> as an event file in the folder. Event files carry wall-clock times, so unlike a model file
/// they differ between two runs with the same seed. Each scalar is on disk when the call returns.
/// </summary>
public sealed class TensorBoardLog
{
    private readonly SummaryWriter writer;

    /// <summary>Opens an event file in <paramref name="folder"/> (created if needed).</summary>
    public TensorBoardLog(string folder)
    {
        try
        {
            Directory.CreateDirectory(folder);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ReparoInputException($"--tensorboard: cannot create {folder} ({e.Message})");
        }
        writer = utils.tensorboard.SummaryWriter(folder);
    }

    /// <summary>Records one finished epoch; fits <see cref="Trainer.Train"/>'s epoch callback.</summary>
    public void EpochEnded(Network network, EpochRecord epoch)
    {
        writer.add_scalar("train/loss", (float)epoch.TrainLoss, epoch.Epoch);
        if (epoch.ValidationAccuracy is double accuracy) writer.add_scalar("validation/accuracy", (float)accuracy, epoch.Epoch);
        writer.add_scalar("train/learning_rate", (float)epoch.LearningRate, epoch.Epoch);
        writer.add_scalar("train/epoch_seconds", (float)epoch.Seconds, epoch.Epoch);
    }
}
