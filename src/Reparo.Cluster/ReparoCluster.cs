using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using StackExchange.Redis;

namespace Reparo.Cluster;

/// <summary>
/// Hosting of Reparo's cluster: workers are Orleans silos, clients submit work through Orleans' client, and Redis holds
/// the membership table and the grains' state (every recorded result). Orleans does the membership, placement and
/// failure detection; nothing here schedules or queues work by hand.
/// </summary>
public static class ReparoCluster
{
    /// <summary>The Orleans cluster and service id every Reparo worker and client uses.</summary>
    public const string ClusterId = "reparo";

    /// <summary>Name of the grain storage that holds results, models and runs.</summary>
    public const string StorageName = "reparo";

    /// <summary>Adds Reparo's grains' needs to a silo: the executor, the worker's slots, its options.</summary>
    public static ISiloBuilder AddReparoWorker(this ISiloBuilder silo, Func<IServiceProvider, IWorkExecutor> executor, Action<WorkerOptions>? configure = null)
    {
        silo.Services.AddSingleton(executor);
        silo.Services.AddSingleton<WorkerSlots>();
        silo.Services.Configure<WorkerOptions>(options => configure?.Invoke(options));
        return silo;
    }

    /// <summary>Silo port of a worker in a Kubernetes pod (the manifests in deploy/kubernetes open it).</summary>
    public const int KubernetesSiloPort = 11111;

    /// <summary>Gateway port of a worker in a Kubernetes pod.</summary>
    public const int KubernetesGatewayPort = 30000;

    /// <summary>
    /// Runs a worker (a silo) against the cluster at <paramref name="address"/> until <paramref name="stop"/> fires:
    /// Redis clustering and grain storage, silo and gateway ports chosen free on this machine, advertised on
    /// <paramref name="advertise"/> (default: loopback when Redis is on this machine, else this host's first IPv4 address).
    /// With <paramref name="kubernetes"/>, Orleans' Kubernetes hosting sets the advertised address from the pod
    /// (<c>POD_IP</c>, <c>POD_NAME</c>, <c>POD_NAMESPACE</c>) and the ports are the fixed <see cref="KubernetesSiloPort"/> and <see cref="KubernetesGatewayPort"/>.
    /// </summary>
    public static async Task RunWorker(ClusterAddress address, Func<IServiceProvider, IWorkExecutor> executor, WorkerOptions options, IPAddress? advertise, bool kubernetes,
        Action<string> log, CancellationToken stop)
    {
        await RequireRedis(address);
        IPAddress ip = advertise ?? (address.IsLoopback ? IPAddress.Loopback : FirstIpv4());
        using IHost host = new HostBuilder()
            .UseOrleans(silo =>
            {
                silo.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (ClusterId, ClusterId));
                silo.UseRedisClustering(o => o.ConfigurationOptions = ConfigurationOptions.Parse(address.RedisConfiguration));
                silo.AddRedisGrainStorage(StorageName, o => o.ConfigurationOptions = ConfigurationOptions.Parse(address.RedisConfiguration));
                if (kubernetes)
                {
                    silo.UseKubernetesHosting();
                    silo.Configure<EndpointOptions>(o => (o.SiloPort, o.GatewayPort) = (KubernetesSiloPort, KubernetesGatewayPort));
                }
                else
                {
                    silo.ConfigureEndpoints(ip, FreePort(), FreePort(), listenOnAnyHostAddress: !address.IsLoopback);
                }
                silo.AddReparoWorker(executor, w => (w.Slots, w.ModelCache, w.Name) = (options.Slots, options.ModelCache, options.Name));
            })
            .ConfigureLogging(logging => logging.SetMinimumLevel(LogLevel.Warning))
            .Build();
        await host.StartAsync(stop);
        log($"worker {options.Name} joined the cluster at {address} ({(kubernetes ? "Kubernetes pod" : ip)}); {options.Slots} slot(s)");
        try
        {
            await Task.Delay(Timeout.Infinite, stop);
        }
        catch (OperationCanceledException)
        {
        }
        log($"worker {options.Name} leaving the cluster");
        await host.StopAsync(CancellationToken.None);
    }

    /// <summary>Connects a client to the cluster at <paramref name="address"/>; dispose the host to disconnect.</summary>
    public static async Task<IHost> Connect(ClusterAddress address, CancellationToken cancel)
    {
        await RequireRedis(address);
        IHost host = new HostBuilder()
            .UseOrleansClient(client =>
            {
                client.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (ClusterId, ClusterId));
                client.UseRedisClustering(o => o.ConfigurationOptions = ConfigurationOptions.Parse(address.RedisConfiguration));
            })
            .ConfigureLogging(logging => logging.SetMinimumLevel(LogLevel.Warning))
            .Build();
        try
        {
            await host.StartAsync(cancel);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            host.Dispose();
            throw new ReparoEnvironmentException($"no worker of the cluster at {address} answers (start one with reparo worker --cluster {address}): {e.GetBaseException().Message.Split('\n')[0]}", e);
        }
        return host;
    }

    /// <summary>Whether Redis at <paramref name="address"/> answers a PING within a few seconds.</summary>
    public static async Task<bool> RedisAnswers(ClusterAddress address)
    {
        try
        {
            using ConnectionMultiplexer redis = await ConnectionMultiplexer.ConnectAsync(address.RedisConfiguration);
            if (!redis.IsConnected) return false;
            await redis.GetDatabase().PingAsync();
            return true;
        }
        catch (RedisException)
        {
            return false;
        }
    }

    private static async Task RequireRedis(ClusterAddress address)
    {
        if (!await RedisAnswers(address))
            throw new ReparoEnvironmentException($"Redis at {address} does not answer (start it, e.g. redis-server --port {address.Port})", new IOException("no Redis"));
    }

    /// <summary>A TCP port free on this machine now (for a worker's silo and gateway, or a Redis started beside them).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static IPAddress FirstIpv4() =>
        Dns.GetHostAddresses(Dns.GetHostName()).FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a)) ?? IPAddress.Loopback;
}
