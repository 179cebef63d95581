using System.Text.Json;
using Reparo.Experiments;
using Reparo.Io;

namespace Reparo.Tests.Experiments;

/// <summary>The RNNRepair experiment's resume and partial results file (the parts themselves are the experiment's, not a test's).</summary>
public class RnnRepairExperimentPlanTests
{
    /// <summary>A quick run's results (Fixtures/rnnrepair-quick.json, written by <c>reparo experiment rnnrepair --quick --threads 1 --json …</c>).</summary>
    private static RnnRepairResults QuickRun()
    {
        RnnRepairResults run = JsonSerializer.Deserialize<RnnRepairResults>(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "rnnrepair-quick.json")), ReparoJson.Options)!;
        return run with { Quick = true };
    }

    /// <summary>A runner that answers every step without running it, noting which parts it was given.</summary>
    private sealed class AnsweringRunner(Func<RnnRepairPart, RnnRepairPartResult> answer) : IExperimentStepRunner
    {
        public List<string> Given { get; } = [];

        public void Run<TStep, TResult>(string experiment, IReadOnlyList<ExperimentStep<TStep>> steps, Func<TStep, string?, TResult> runHere, Action<int, TResult> recorded)
        {
            for (int i = 0; i < steps.Count; i++)
            {
                var part = (RnnRepairPart)(object)steps[i].Step!;
                Given.Add(part.Label);
                recorded(i, (TResult)(object)answer(part));
            }
        }
    }

    [Fact]
    public void AResumedRunRunsOnlyTheMissingPartsAndItsFileSaysPartialUntilEveryPartIsIn()
    {
        RnnRepairResults whole = QuickRun();
        RnnRepairResults interrupted = whole with { Sample = null, Mislabel = [], Complete = false, Minutes = 5 };

        string partial = RnnRepairExperimentPlan.ToMarkdown(interrupted, "./reparo experiment rnnrepair --quick --threads 1", 1, "rnnrepair-quick.json");
        Assert.Contains($"**Partial: the run was still going ({RnnRepairExperimentPlan.Parts(quick: true).Count - 2} of {RnnRepairExperimentPlan.Parts(quick: true).Count} parts done).**", partial);
        Assert.Contains("Parts not yet run: sample, mislabel 1 vs 3.", partial);
        Assert.DoesNotContain("Sample-level remediation", partial);
        Assert.Contains("| sample-level repair ≥ 2× random | not yet run | – |", partial);

        // The missing parts go to the runner (no model file is needed for them, so none is trained); the rest are kept.
        var seen = new List<RnnRepairResults>();
        var runner = new AnsweringRunner(part => part.Name == "sample"
            ? new RnnRepairPartResult(Sample: whole.Sample, Run: new RnnRepairPartRun(part.Label, 0.5, 2))
            : new RnnRepairPartResult(Mislabel: whole.Mislabel[0], Run: new RnnRepairPartRun(part.Label, 0.5, 3)));
        string folder = Directory.CreateTempSubdirectory("reparo-rnnrepair-resume-").FullName;
        try
        {
            RnnRepairResults resumed = RnnRepairExperimentPlan.Run(null!, null, new ModelCache(folder, 1), quick: true, seed: 0, runner, partial: seen.Add, earlier: interrupted);
            Assert.Equal(["sample", "mislabel 1 vs 3"], runner.Given);
            Assert.Empty(Directory.GetFiles(folder));
            Assert.Equal([false, true], seen.Select(r => r.Complete));
            Assert.True(resumed.Complete);
            Assert.True(resumed.Minutes >= 5);
            Assert.Equal(["sample", "mislabel 1 vs 3"], resumed.Runs!.Select(r => r.Part));
            Assert.Equal(ReparoJson.Serialize(whole.Sample), ReparoJson.Serialize(resumed.Sample));
            Assert.Equal(ReparoJson.Serialize(whole.Speed), ReparoJson.Serialize(resumed.Speed));
            string done = RnnRepairExperimentPlan.ToMarkdown(resumed, "./reparo experiment rnnrepair --quick --threads 1", 1, "rnnrepair-quick.json");
            Assert.DoesNotContain("Partial", done);
            Assert.Contains("| mislabel finding: RNNRepair finds more flips than random over inspection budgets 5–50 % (area under the curve), every class pair | fashion-mnist/train[Trouser\\|Dress]: ", done);
            Assert.Contains("Sample-level remediation", done);
            Assert.Contains("Parts as they ran (minutes, load at start): sample 2.0 min, 0.50; mislabel 1 vs 3 3.0 min, 0.50.", done);

            // A complete earlier run has nothing left to run; one of another seed or plan is refused in one line.
            var idle = new AnsweringRunner(_ => throw new InvalidOperationException("ran a part"));
            Assert.True(RnnRepairExperimentPlan.Run(null!, null, new ModelCache(folder, 1), quick: true, seed: 0, idle, earlier: resumed).Complete);
            Assert.Empty(idle.Given);
            Assert.StartsWith("--resume: the earlier run was the quick plan with seed 0, this one the quick plan with seed 1",
                Assert.Throws<ReparoInputException>(() => RnnRepairExperimentPlan.Run(null!, null, new ModelCache(folder, 1), quick: true, seed: 1, idle, earlier: resumed)).Message);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
