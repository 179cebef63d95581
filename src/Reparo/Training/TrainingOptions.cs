namespace Reparo.Training;

/// <summary>The optimisers the trainer offers.</summary>
public enum OptimizerKind
{
    /// <summary>Adam (Kingma &amp; Ba).</summary>
    Adam,

    /// <summary>Stochastic gradient descent with momentum.</summary>
    Sgd,
}

/// <summary>Learning-rate schedules.</summary>
public enum LearningRateSchedule
{
    /// <summary>Constant learning rate.</summary>
    Constant,

    /// <summary>Cosine annealing from the initial rate to zero over all epochs.</summary>
    Cosine,

    /// <summary>Multiply the rate by 0.1 at 50 % and 75 % of the epochs.</summary>
    Step,
}

/// <summary>How to train a network. Defaults suit the zoo's models on Fashion-MNIST.</summary>
public sealed record TrainingOptions
{
    /// <summary>Maximum number of passes over the training data.</summary>
    public int Epochs { get; init; } = 10;

    /// <summary>Samples per gradient step.</summary>
    public int BatchSize { get; init; } = 128;

    /// <summary>Initial learning rate.</summary>
    public double LearningRate { get; init; } = 1e-3;

    /// <summary>Optimiser.</summary>
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Adam;

    /// <summary>Momentum for SGD.</summary>
    public double Momentum { get; init; } = 0.9;

    /// <summary>L2 weight decay.</summary>
    public double WeightDecay { get; init; }

    /// <summary>Learning-rate schedule.</summary>
    public LearningRateSchedule Schedule { get; init; } = LearningRateSchedule.Cosine;

    /// <summary>Stop after this many epochs without a better validation accuracy (0 turns early stopping off). The best epoch's weights are kept.</summary>
    public int Patience { get; init; } = 5;

    /// <summary>Seed of the batch order (and of anything else random in training).</summary>
    public int Seed { get; init; }

    /// <summary>Throws a <see cref="ReparoInputException"/> if a value is out of range.</summary>
    public void Validate()
    {
        if (Epochs < 1) throw new ReparoInputException($"epochs must be at least 1, got {Epochs}");
        if (BatchSize < 1) throw new ReparoInputException($"batch size must be at least 1, got {BatchSize}");
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate)) throw new ReparoInputException($"learning rate must be positive, got {LearningRate}");
        if (WeightDecay < 0 || double.IsNaN(WeightDecay)) throw new ReparoInputException($"weight decay must be non-negative, got {WeightDecay}");
        if (Patience < 0) throw new ReparoInputException($"patience must be non-negative, got {Patience}");
    }
}

/// <summary>Progress of a training run, reported after every batch.</summary>
/// <param name="Epoch">Current epoch (1-based).</param>
/// <param name="Epochs">Maximum epochs.</param>
/// <param name="Batch">Batches done in this epoch.</param>
/// <param name="Batches">Batches per epoch.</param>
/// <param name="Loss">Mean training loss so far in this epoch.</param>
/// <param name="ValidationAccuracy">Validation accuracy of the last finished epoch, if any.</param>
public sealed record TrainingProgress(int Epoch, int Epochs, int Batch, int Batches, double Loss, double? ValidationAccuracy);

/// <summary>One finished epoch.</summary>
/// <param name="Epoch">Epoch number (1-based).</param>
/// <param name="TrainLoss">Mean training loss.</param>
/// <param name="ValidationAccuracy">Accuracy on the validation part, if one was given.</param>
/// <param name="LearningRate">Learning rate used.</param>
/// <param name="Seconds">Wall time of the epoch (training and validation).</param>
public sealed record EpochRecord(int Epoch, double TrainLoss, double? ValidationAccuracy, double LearningRate, double Seconds);

/// <summary>What a training run did.</summary>
/// <param name="Epochs">Every finished epoch.</param>
/// <param name="BestEpoch">The epoch whose weights were kept.</param>
/// <param name="StoppedEarly">Whether early stopping ended the run.</param>
/// <param name="Seconds">Total wall time.</param>
public sealed record TrainingReport(IReadOnlyList<EpochRecord> Epochs, int BestEpoch, bool StoppedEarly, double Seconds)
{
    /// <summary>Validation accuracy of the kept epoch.</summary>
    public double? BestValidationAccuracy => Epochs.FirstOrDefault(e => e.Epoch == BestEpoch)?.ValidationAccuracy;
}
