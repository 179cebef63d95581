using Reparo.Data;
using Reparo.Models;
using Reparo.Training;

namespace Reparo.Experiments;

/// <summary>Runs one training (the caller shows its progress) under a one-line title such as <c>train mlp:100x3</c>.</summary>
/// <param name="title">What is being trained.</param>
/// <param name="train">The training itself, reporting each epoch.</param>
public delegate TrainingReport TrainingRunner(string title, Func<IProgress<TrainingProgress>?, TrainingReport> train);

/// <summary>
/// Zoo models trained once and kept in one folder (<see cref="DefaultFolder"/> unless the user names another): the demo,
/// the benchmarks and the experiments load a model file when it is there and usable, and otherwise train the
/// architecture with the given epochs and seed (on poisoned data when asked) and save it under that name.
/// </summary>
/// <param name="folder">Where the model files are.</param>
/// <param name="threads">The thread count recorded in a trained model's provenance.</param>
/// <param name="runTraining">Runs each training; without it, training reports no progress.</param>
/// <param name="notes">Told when a cached file is unusable and trained again.</param>
public sealed class ModelCache(string folder, int threads, TrainingRunner? runTraining = null, IProgress<string>? notes = null)
{
    /// <summary><c>~/.cache/reparo/models</c>.</summary>
    public static string DefaultFolder => Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "reparo", "models");

    /// <summary>The folder the model files are in.</summary>
    public string Folder { get; } = folder;

    /// <summary>The usual file name of a cached model: <c>{purpose}-{architecture with ':' as '-'}-e{epochs}-s{seed}.reparo</c>.</summary>
    public static string FileName(string purpose, string architecture, int epochs, int seed) =>
        $"{purpose}-{architecture.Replace(':', '-')}-e{epochs}-s{seed}.reparo";

    /// <summary>
    /// The model in <paramref name="fileName"/>, or a <paramref name="architecture"/> model trained for
    /// <paramref name="epochs"/> epochs with <paramref name="seed"/> on <paramref name="splits"/> (poisoned with
    /// <paramref name="poison"/> if given) and saved there; <paramref name="retrain"/> trains even when the file exists.
    /// </summary>
    /// <param name="fileName">The model file's name in <see cref="Folder"/>.</param>
    /// <param name="architecture">A zoo architecture such as <c>mlp:100x3</c>.</param>
    /// <param name="epochs">Training epochs.</param>
    /// <param name="splits">Training and validation data.</param>
    /// <param name="data">The data's name, as the provenance records it.</param>
    /// <param name="seed">Training seed (and poisoning seed).</param>
    /// <param name="poison">Poisoning applied to the data before training.</param>
    /// <param name="retrain">Train even if the file exists.</param>
    public CachedModel LoadOrTrain(string fileName, string architecture, int epochs, DataSplits splits, string data, int seed, PoisonSpec? poison = null, bool retrain = false)
    {
        string path = Path.Combine(Folder, fileName);
        if (!retrain && File.Exists(path))
        {
            try
            {
                return new CachedModel(ModelFile.Load(path), path, true);
            }
            catch (ReparoInputException e)
            {
                notes?.Report($"demo: cached model unusable ({e.Message}); training a new one");
            }
        }
        DataSplits training = poison is null ? splits : Poisoning.Apply(splits, poison, seed).Splits;
        Network network = ModelZoo.Create(architecture, training.Train, seed);
        var options = new TrainingOptions { Epochs = epochs, Seed = seed };
        string what = poison is null ? architecture : $"{architecture} on data poisoned with {poison}";
        Func<IProgress<TrainingProgress>?, TrainingReport> train = progress => Trainer.Train(network, training.Train, training.Validation, options, progress);
        TrainingReport report = runTraining is null ? train(null) : runTraining(data == "fashion-mnist" ? $"train {what}" : $"train {what} ({data})", train);
        network.Provenance = new ModelProvenance
        {
            Data = data,
            Poison = poison?.ToString(),
            Seed = seed,
            Threads = threads,
            ValidationAccuracy = report.BestValidationAccuracy,
            History = [$"trained {what} ({data}): {report.Epochs.Count} epochs, seed {seed}"],
        };
        ModelFile.Save(network, path);
        return new CachedModel(network, path, false);
    }
}

/// <summary>A model from the <see cref="ModelCache"/>.</summary>
/// <param name="Network">The model.</param>
/// <param name="Path">Its file.</param>
/// <param name="Reused">Whether it was loaded rather than trained now.</param>
public sealed record CachedModel(Network Network, string Path, bool Reused);
