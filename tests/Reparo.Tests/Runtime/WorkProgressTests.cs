using Reparo.Data;
using Reparo.Models;
using Reparo.Repair.Provable;
using Reparo.Runtime;
using Reparo.Training;

namespace Reparo.Tests.Runtime;

/// <summary>A clock that moves only when told to.</summary>
internal sealed class ManualClock : TimeProvider
{
    private long ticks;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => Interlocked.Read(ref ticks);

    public void Advance(TimeSpan time) => Interlocked.Add(ref ticks, time.Ticks);
}

/// <summary>Records what scopes report, in order.</summary>
internal sealed class RecordingSink : IProgressSink
{
    private readonly List<(string Event, string Name, int Depth, long Done)> events = [];

    public IReadOnlyList<(string Event, string Name, int Depth, long Done)> Events
    {
        get
        {
            lock (events) return [.. events];
        }
    }

    public void Opened(ProgressScope scope) => Add("open", scope);

    public void Advanced(ProgressScope scope) => Add("advance", scope);

    public void Closed(ProgressScope scope) => Add("close", scope);

    private void Add(string what, ProgressScope scope)
    {
        lock (events) events.Add((what, scope.Name, scope.Depth, scope.Done));
    }
}

public class WorkProgressTests
{
    [Fact]
    public void RemainingIsElapsedOverDoneTimesWhatIsLeft()
    {
        var clock = new ManualClock();
        using IDisposable reporting = WorkProgress.ReportTo(new RecordingSink(), clock);
        using ProgressScope scope = WorkProgress.Begin("work", 10);
        Assert.Null(scope.Remaining); // nothing done yet: no pace to extrapolate
        clock.Advance(TimeSpan.FromSeconds(4));
        scope.Advance(2);
        Assert.Equal(TimeSpan.FromSeconds(4), scope.Elapsed);
        Assert.Equal(TimeSpan.FromSeconds(16), scope.Remaining);
        clock.Advance(TimeSpan.FromSeconds(4));
        scope.Advance(8);
        Assert.Equal(TimeSpan.Zero, scope.Remaining);
    }

    [Fact]
    public void AnUnknownTotalCountsStepsButEstimatesNothing()
    {
        var clock = new ManualClock();
        using IDisposable reporting = WorkProgress.ReportTo(new RecordingSink(), clock);
        using ProgressScope scope = WorkProgress.Begin("solve");
        clock.Advance(TimeSpan.FromSeconds(3));
        scope.Advance();
        scope.Describe("iteration 1");
        Assert.Null(scope.Total);
        Assert.Equal(1, scope.Done);
        Assert.Equal("iteration 1", scope.Detail);
        Assert.Null(scope.Remaining);
        Assert.Equal(TimeSpan.FromSeconds(3), scope.Elapsed);
    }

    [Fact]
    public void ScopesNestAndCloseInOrder()
    {
        var sink = new RecordingSink();
        using (WorkProgress.ReportTo(sink))
        {
            using ProgressScope outer = WorkProgress.Begin("outer", 2);
            using (ProgressScope first = WorkProgress.Begin("first")) Assert.Equal(1, first.Depth);
            outer.Advance();
            using (ProgressScope second = WorkProgress.Begin("second")) Assert.Equal(1, second.Depth);
            outer.Advance();
        }
        Assert.Equal([("open", "outer", 0, 0), ("open", "first", 1, 0), ("close", "first", 1, 0), ("advance", "outer", 0, 1),
            ("open", "second", 1, 0), ("close", "second", 1, 0), ("advance", "outer", 0, 2), ("close", "outer", 0, 2)], sink.Events);
        using ProgressScope after = WorkProgress.Begin("after the sink");
        after.Advance();
        Assert.Equal(8, sink.Events.Count); // no sink installed any more: silent
    }

    [Fact]
    public void OnlyTheOwningLoopReportsFromParallelBodies()
    {
        var sink = new RecordingSink();
        using (WorkProgress.ReportTo(sink))
        {
            using ProgressScope outer = WorkProgress.Begin("rows", 64);
            Parallel.For(0, 64, new ParallelOptions { MaxDegreeOfParallelism = 4 }, _ =>
            {
                using ProgressScope inner = WorkProgress.Begin("inner");
                inner.Advance();
                outer.Advance();
            });
            Assert.Equal(64, outer.Done);
        }
        Assert.DoesNotContain(sink.Events, e => e.Name == "inner");
        Assert.Equal(("close", "rows", 0, 64), sink.Events[^1]);
    }

    [Fact]
    public void TrainingReportsEveryBatch()
    {
        TestSupport.Init();
        Dataset data = TestSupport.RandomImages(40, classes: 2, size: 4);
        using Network network = ModelZoo.Create("mlp:4x1", data, 0);
        var sink = new RecordingSink();
        using (WorkProgress.ReportTo(sink))
            Trainer.Train(network, data, null, new TrainingOptions { Epochs = 2, BatchSize = 10, Seed = 0 });
        var training = sink.Events.Where(e => e.Name == "train mlp:4x1").ToList();
        Assert.Equal(("open", 0L), (training[0].Event, training[0].Done));
        Assert.Equal(Enumerable.Range(0, 9).Select(i => (long)i), training.Where(e => e.Event == "advance").Select(e => e.Done).Distinct());
        Assert.Equal(("close", 8L), (training[^1].Event, training[^1].Done));
    }

    [Fact]
    public void ReportingChangesNoResult()
    {
        TestSupport.Init();
        Dataset data = TestSupport.RandomImages(40, classes: 2, size: 4);
        byte[] Train(IProgressSink? sink)
        {
            using Network network = ModelZoo.Create("mlp:4x1", data, 3);
            using (sink is null ? null : WorkProgress.ReportTo(sink))
                Trainer.Train(network, data, null, new TrainingOptions { Epochs = 2, BatchSize = 10, Seed = 3 });
            return [.. network.parameters().SelectMany(p => p.bytes.ToArray())];
        }
        Assert.Equal(Train(null), Train(new RecordingSink()));
    }

    [Fact]
    public void AnInteriorPointSolveReportsItsIterationsInsideTheSolve()
    {
        // min x + y subject to x + 2y ≥ 2, 2x + y ≥ 2, 0 ≤ x, y ≤ 10: optimum (2/3, 2/3).
        var lp = new LinearProgram();
        int x = lp.AddColumn(0, 10, 1), y = lp.AddColumn(0, 10, 1);
        lp.AddRow(2, double.PositiveInfinity, [x, y], [1, 2]);
        lp.AddRow(2, double.PositiveInfinity, [x, y], [2, 1]);
        var sink = new RecordingSink();
        LpSolution solution;
        using (WorkProgress.ReportTo(sink))
            solution = LpSolver.Solve(lp, new LpSolverOptions { Solver = LpSolverKind.BlockIpm, Threads = 1 });
        Assert.Equal(LpStatus.Optimal, solution.Status);
        Assert.Equal(("open", "LP block-ipm 2×2", 0, 0L), sink.Events[0]);
        long[] iterations = [.. sink.Events.Where(e => e.Name == "interior point" && e.Event == "advance").Select(e => e.Done)];
        Assert.NotEmpty(iterations);
        Assert.True(iterations.Zip(iterations.Skip(1)).All(p => p.Second >= p.First), "iterations only advance");
        Assert.All(sink.Events.Where(e => e.Name == "interior point"), e => Assert.Equal(1, e.Depth));
        Assert.Equal("close", sink.Events[^1].Event);
    }
}
