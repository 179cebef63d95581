using System.CommandLine;
using System.Net;
using System.Runtime.InteropServices;
using Reparo.Cli.Cluster;
using Reparo.Cluster;
using Spectre.Console;

namespace Reparo.Cli.Commands;

/// <summary>
/// <c>reparo worker --cluster redis://HOST:PORT [--threads N]</c>: an Orleans silo that runs study cases submitted with
/// <c>reparo study … --cluster</c> and experiment steps submitted with <c>reparo experiment … --cluster</c>, one at a time,
/// until stopped (Ctrl-C or SIGTERM).
/// </summary>
internal static class WorkerCommand
{
    public static Command Create(CliContext cli)
    {
        var cluster = new Option<string>("--cluster") { Description = "The cluster's Redis (membership and results)", Required = true, HelpName = "redis://HOST:PORT" };
        var advertise = new Option<string?>("--advertise") { Description = "Address other machines reach this worker on (default: loopback when Redis is on this machine, else this host's first IPv4 address)", HelpName = "IP" };
        var cacheDir = new Option<string?>("--cache-dir") { Description = "Where models fetched from the cluster are kept (default ~/.cache/reparo/cluster)", HelpName = "DIR" };
        var name = new Option<string?>("--name") { Description = "The worker's name in results (default: host name and process id)", HelpName = "NAME" };
        var kubernetes = new Option<bool>("--kubernetes") { Description = $"Run in a Kubernetes pod: address from POD_IP (Orleans' Kubernetes hosting), ports {ReparoCluster.KubernetesSiloPort} and {ReparoCluster.KubernetesGatewayPort}" };
        var command = new Command("worker", "Join a cluster as a worker that runs study cases and experiment steps (Microsoft Orleans silo; Redis holds membership and results)") { cluster, advertise, cacheDir, name, kubernetes };
        command.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            ClusterAddress address = ClusterAddress.Parse(parse.GetValue(cluster)!);
            IPAddress? ip = parse.GetValue(advertise) is string text
                ? IPAddress.TryParse(text, out IPAddress? parsed) ? parsed : throw new ReparoInputException($"--advertise: '{text}' is not an IP address")
                : null;
            var options = new WorkerOptions
            {
                Slots = 1,
                ModelCache = parse.GetValue(cacheDir) ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "reparo", "cluster"),
                Name = parse.GetValue(name) ?? $"{Environment.MachineName}:{Environment.ProcessId}",
            };
            using var stop = new CancellationTokenSource();
            using PosixSignalRegistration term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => { context.Cancel = true; stop.Cancel(); });
            using PosixSignalRegistration interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, context => { context.Cancel = true; stop.Cancel(); });
            ReparoCluster.RunWorker(address, _ => new WorkerExecutor(), options, ip, parse.GetValue(kubernetes), line => run.Out.WriteLine(line), stop.Token).GetAwaiter().GetResult();
            return CliApp.Success;
        });
        return command;
    }

    /// <summary>
    /// <c>reparo worker-unit</c> (hidden): runs one unit of cluster work read as JSON from standard input and writes its
    /// result to standard output; a worker starts one for each unit (<see cref="WorkerExecutor"/>).
    /// </summary>
    public static Command CreateUnit(CliContext cli)
    {
        var command = new Command("worker-unit", "Run one unit of cluster work read from standard input (what a worker starts for each unit)") { Hidden = true };
        command.SetAction(parse =>
        {
            cli.Start(parse);
            WorkerExecutor.Unit unit = System.Text.Json.JsonSerializer.Deserialize<WorkerExecutor.Unit>(Console.In.ReadToEnd(), Io.ReparoJson.Options)
                ?? throw new ReparoInputException("no unit of work on standard input");
            cli.Io.Stdout.Write(WorkerExecutor.RunHere(unit));
            cli.Io.Stdout.Flush();
            return CliApp.Success;
        });
        return command;
    }
}
