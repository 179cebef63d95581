using System.CommandLine;
using System.Globalization;
using Reparo.Data;
using Reparo.Experiments;
using Reparo.Io;
using Spectre.Console;

namespace Reparo.Cli.Commands;

/// <summary>
/// <c>reparo influence mislabel --classes 1,3 --flip-class 1 --share 0.3 --arch lstm:100 --methods … --restore 10,20</c>:
/// RNNRepair's mislabel finding (Xie et al., ICML'21, Sec. 4.2) — flips found in the top x % of every method's ranking,
/// and the target tests repaired by restoring them and retraining.
/// </summary>
internal static class MislabelCommand
{
    public static Command Create(CliContext cli)
    {
        var defaults = new MislabelOptions();
        var classes = new Option<string>("--classes") { Description = "The two original class ids of the binary task", DefaultValueFactory = _ => "1,3", HelpName = "A,B" };
        var flipClass = new Option<int>("--flip-class") { Description = "Original class id whose training labels are flipped", DefaultValueFactory = _ => defaults.FlipClass };
        var share = new Option<double>("--share") { Description = "Share of that class's training labels flipped", DefaultValueFactory = _ => defaults.Share };
        var arch = new Option<string>("--arch") { Description = "Recurrent architecture (lstm:H or gru:H)", DefaultValueFactory = _ => defaults.Architecture };
        var epochs = new Option<int>("--epochs") { Description = "Training epochs of every model", DefaultValueFactory = _ => defaults.Epochs };
        var batchSize = new Option<int>("--batch-size") { Description = "Mini-batch size", DefaultValueFactory = _ => defaults.BatchSize };
        var lr = new Option<double>("--lr") { Description = "Adam learning rate", DefaultValueFactory = _ => defaults.LearningRate };
        var methods = new Option<string>("--methods") { Description = $"Rankings to compare: {string.Join(",", MislabelOptions.AllMethods)}", DefaultValueFactory = _ => string.Join(",", MislabelOptions.AllMethods), HelpName = "LIST" };
        var step = new Option<int>("--curve-step") { Description = "Step of the found-vs-examined curve in percent", DefaultValueFactory = _ => defaults.CurveStep };
        var restore = new Option<string>("--restore") { Description = "Restore the flips found in each method's top x % and retrain (empty: skip)", DefaultValueFactory = _ => "10,20", HelpName = "LIST" };
        var retrainSeeds = new Option<string>("--retrain-seeds") { Description = "Seeds of the retrained models", DefaultValueFactory = _ => "1", HelpName = "LIST" };
        var damping = new Option<double>("--damping") { Description = "Damping λ of kl-cg (the LSTM Hessian is indefinite; small values fail)", DefaultValueFactory = _ => defaults.Damping };
        var hessianSamples = new Option<int>("--hessian-samples") { Description = "Training rows the kl-cg Hessian is averaged over (0 = all)", DefaultValueFactory = _ => defaults.HessianSamples };
        var states = new Option<int>("--states") { Description = "Abstract states K of RNNRepair's model", DefaultValueFactory = _ => defaults.States };
        var markdown = new Option<string?>("--markdown") { Description = "Write the results as Markdown here", HelpName = "PATH" };
        var data = new DataArguments(defaultData: "fashion-mnist", preprocessing: false);
        var command = new Command("mislabel", "Find flipped training labels: RNNRepair's transition scores against influence baselines (Sec. 4.2)")
        {
            classes, flipClass, share, arch, epochs, batchSize, lr, methods, step, restore, retrainSeeds, damping, hessianSamples, states, markdown,
        };
        data.AddTo(command);
        command.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            var options = new MislabelOptions
            {
                Classes = Ints(parse.GetValue(classes)!, "--classes"),
                FlipClass = parse.GetValue(flipClass),
                Share = parse.GetValue(share),
                Architecture = parse.GetValue(arch)!,
                Epochs = parse.GetValue(epochs),
                BatchSize = parse.GetValue(batchSize),
                LearningRate = parse.GetValue(lr),
                Seed = run.Seed,
                Methods = parse.GetValue(methods)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                CurveStep = parse.GetValue(step),
                RestorePercents = Ints(parse.GetValue(restore)!, "--restore"),
                RetrainSeeds = Ints(parse.GetValue(retrainSeeds)!, "--retrain-seeds"),
                Damping = parse.GetValue(damping),
                HessianSamples = parse.GetValue(hessianSamples),
                States = parse.GetValue(states),
            };
            options.Validate();
            DataSplits splits = data.Load(parse);
            MislabelReport report = MislabelStudy.Run(splits, options, run.Notes);
            Print(run.Out, report);
            if (parse.GetValue(markdown) is string path) AtomicFile.WriteAllText(path, report.ToMarkdown());
            run.WriteJson(report);
            return CliApp.Success;
        });
        return command;
    }

    /// <summary>A comma-separated list of integers (empty gives none); anything else is bad input naming the option.</summary>
    private static int[] Ints(string text, string option) =>
        [.. text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s =>
            int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : throw new ReparoInputException($"{option} takes comma-separated integers, got '{text}'"))];

    private static void Print(IAnsiConsole console, MislabelReport r)
    {
        console.MarkupLine(Markup.Escape($"{r.Task}: {r.TrainingRows} training rows, {r.Flips} flips ({r.InfluentialFlips} influential), {r.TargetTests} target tests of {r.TestRows}; test accuracy clean {r.CleanAccuracy:P2}, flipped {r.FlippedAccuracy:P2}"));
        int[] shown = [.. new[] { 5, 10, 20, 30, 50 }.Where(p => p % r.Options.CurveStep == 0)];
        var table = new Table().AddColumn("method");
        foreach (int p in shown) table.AddColumn(new TableColumn($"{p} %").RightAligned());
        table.AddColumn(new TableColumn("AUC").RightAligned()).AddColumn(new TableColumn("AUC infl.").RightAligned()).AddColumn(new TableColumn("time (s)").RightAligned());
        foreach (MislabelMethod m in r.Methods)
            table.AddRow([m.Method, .. shown.Select(p => $"{m.Flips.Points.First(q => q.Percent == p).Share:P1}"), $"{m.Flips.Area:F3}",
                m.InfluentialFlips is { } c ? $"{c.Area:F3}" : "–", $"{m.Seconds:F1}"]);
        console.Write(table);
        if (r.NothingRestored is null) return;
        var repairs = new Table().AddColumns("method", "x", "restored", "target tests right", "test accuracy");
        void Row(string name, MislabelRestore x) => repairs.AddRow(name, x.Percent is int p ? $"{p} %" : "–", $"{x.Restored}",
            $"{x.TargetsFixed.Mean:F1} ± {x.TargetsFixed.Std:F1} of {r.TargetTests}", $"{x.TestAccuracy.Mean:P2}");
        Row("nothing restored", r.NothingRestored);
        foreach (MislabelMethod m in r.Methods)
            foreach (MislabelRestore x in m.Restores) Row(m.Method, x);
        Row("all flips restored", r.AllRestored!);
        console.Write(repairs);
    }
}
