using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Largeguest.Grammar;
using Xunit.Abstractions;

namespace Largeguest.Tests.E2E;

/// <summary><c>largeguest topology</c> on a host with four nodes of unequal size, node 2 without memory.</summary>
[Collection(NumaHostCollection.Name)]
public sealed class NumaFourNodeTests(FourNodeHost host, ITestOutputHelper output) : IClassFixture<FourNodeHost>
{
    [Fact]
    public void Topology_from_sysfs_and_libvirt_shows_four_unequal_nodes_and_the_memory_less_one() =>
        NumaTopology.Check(host, output);
}

/// <summary>
/// The published <c>largeguest topology --json</c> inside a NUMA test host, from sysfs and from the inner libvirtd,
/// against the oracle: the layout the test host was booted with (node i has CPU i and the memory given to it;
/// 0 MiB = memory-less) and that kernel's own node files.
/// </summary>
public static class NumaTopology
{
    public static void Check(NumaTestHost host, ITestOutputHelper output)
    {
        var clock = Stopwatch.StartNew();
        var checks = new E2EChecks($"{host.Name} topology", output.WriteLine);
        var n = host.NodeMiB.Count;
        var all = n == 1 ? "0" : $"0-{n - 1}";
        var withMemory = string.Join(',', Enumerable.Range(0, n).Where(i => host.NodeMiB[i] > 0));
        checks.Equal(all, host.Read("/sys/devices/system/node/online").Trim(),
            "kernel: /sys/devices/system/node/online");
        checks.Equal(CpuSet.Parse(withMemory).ToString(), host.Read("/sys/devices/system/node/has_memory").Trim(),
            "kernel: /sys/devices/system/node/has_memory");
        var kernelTotal = Enumerable.Range(0, n)
            .Select(i => long.Parse(Regex.Match(host.Read($"/sys/devices/system/node/node{i}/meminfo"),
            @"MemTotal:\s+(\d+) kB").Groups[1].Value, CultureInfo.InvariantCulture)).ToList();

        foreach (var source in new[] { "sysfs", "libvirt" })
        {
            var run = host.Run($"echo '{{}}' > /tmp/empty.json; LARGEGUEST_CONFIG=/tmp/empty.json " +
                $"LARGEGUEST__Topology__Source={source} " +
                $"LARGEGUEST__Topology__LibvirtUri={Cmd.Quote(host.LibvirtUri)} " +
                    $"{Cmd.Quote(Support.PublishedBinary.Path)} topology --json");
            output.WriteLine($"topology from {source}: exit {run.ExitCode} {run.Stderr.Trim()}\n{run.Stdout}");
            checks.Equal(0, run.ExitCode, $"{source}: largeguest topology exit code");
            checks.Equal("", run.Stderr.Trim(), $"{source}: nothing on stderr (no fallback)");
            if (run.ExitCode != 0) continue;
            using var doc = JsonDocument.Parse(run.Stdout);
            var root = doc.RootElement;
            checks.True(root.GetProperty("source").GetString()!.StartsWith(source, StringComparison.Ordinal),
                $"{source}: the model's source",
                root.GetProperty("source").GetString()!);
            var nodes = root.GetProperty("nodes").EnumerateArray().ToList();
            checks.Equal(n, nodes.Count, $"{source}: number of nodes");
            foreach (var node in nodes)
            {
                var id = node.GetProperty("id").GetInt32();
                if (!checks.True(id < n, $"{source}: node {id} exists in the layout")) continue;
                var cpus = string.Join(',', node.GetProperty("cpus").EnumerateArray()
                    .Select(c => c.GetProperty("id").GetInt32()));
                checks.Equal(id.ToString(CultureInfo.InvariantCulture), cpus, $"{source}: node {id}'s CPUs");
                var total = node.GetProperty("memory_total_kib").GetInt64();
                var free = node.GetProperty("memory_free_kib").GetInt64();
                checks.Equal(kernelTotal[id], total, $"{source}: node {id} total memory = the kernel's " +
                    $"node{id}/meminfo MemTotal (KiB)");
                var given = host.NodeMiB[id] * 1024L;
                if (given == 0)
                {
                    checks.Equal(0L, total, $"{source}: node {id} is memory-less");
                    checks.Equal(0L, free, $"{source}: node {id} has no free memory");
                }
                else
                    // The kernel keeps part of each node for itself: memmap scales with the node (15 % bounds it), but
                    // some reservations are fixed-size and land on one node (seen: 50 MiB of a 256 MiB node), so a
                    // small node may lose up to 64 MiB.
                    checks.True(total <= given && total >= given - Math.Max(given * 15 / 100, 64 * 1024),
                        $"{source}: node {id} total memory is its {host.NodeMiB[id]} MiB less the kernel's " +
                        "reservations",
                        $"{total} KiB of {given} KiB");
                checks.True(free <= total && (given == 0 || free > 0), $"{source}: node {id} free memory within total",
                    $"{free} of {total} KiB");
            }
        }
        host.Figures.CaseDone($"{host.Name} topology", checks, clock.Elapsed.TotalSeconds);
        checks.ThrowIfFailed();
    }
}
