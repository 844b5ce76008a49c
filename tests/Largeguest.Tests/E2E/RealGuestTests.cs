using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Largeguest.Grammar;
using Largeguest.Tests.Support;
using Xunit.Abstractions;

namespace Largeguest.Tests.E2E;

/// <summary>
/// End to end on a real guest: the published hook rewrites realistic oVirt domain XML exactly as VDSM
/// runs it, the private libvirtd defines and starts the guest under KVM (TCG when /dev/kvm is unusable),
/// and the running guest is checked from the kernel's side (thread affinity), from QEMU's (argv, QMP) and
/// from libvirt's (virsh vcpupin/emulatorpin/numatune). Then a migration is simulated: the running
/// guest's migratable XML goes through before_vm_migrate_destination (must come back byte-identical) and
/// the guest is restarted from it and checked again.
/// </summary>
[Collection(E2ECollection.Name)]
public sealed class RealGuestTests(PrivateLibvirt libvirt, ITestOutputHelper output)
{
    [Theory]
    [MemberData(nameof(CaseIds))]
    public void Guest_runs_as_the_properties_ask_and_survives_a_migration(string caseId)
    {
        var c = GuestCases.Get(caseId);
        var clock = Stopwatch.StartNew();
        var uuid = Guid.NewGuid().ToString();
        var name = $"lg-e2e-{c.Id}-{uuid[..8]}";
        var checks = new E2EChecks(c.Id, output.WriteLine);
        output.WriteLine($"case {c.Id}: {c.Description}; guest {name}; properties {Describe(c.Properties)}");
        Precondition(c);
        using var hooks = new VdsmHookRunner();
        try
        {
            // 1. before_vm_start, as VDSM runs it; then define + start under the private libvirtd.
            var start = hooks.Run("before_vm_start", c.Xml(name, uuid, libvirt.DomainType), c.Properties, vmId: uuid);
            checks.True(!start.Raised, "before_vm_start: every hook exits 0",
                $"exit codes {string.Join(",", start.ExitCodes)}: {start.Stderr.Trim()}");
            if (start.Raised) // VDSM would not start the VM: nothing more to check
            {
                libvirt.Figures.CaseDone(c.Id, checks, clock.Elapsed.TotalSeconds);
                checks.ThrowIfFailed();
            }
            var defined = WriteXml(name + ".start.xml", start.Xml);
            libvirt.VirshOk("define", defined);
            Boot(name, c, () => libvirt.VirshOk("start", name));
            VerifyRunning(name, c, checks, "started");

            // 2. Migration: the running guest's migratable XML through before_vm_migrate_destination.
            var migratable = Encoding.UTF8.GetBytes(libvirt.VirshOk("dumpxml", "--migratable", name));
            var dest = hooks.Run("before_vm_migrate_destination", migratable, c.Properties, vmId: uuid);
            checks.True(!dest.Raised, "before_vm_migrate_destination: every hook exits 0",
                $"exit codes {string.Join(",", dest.ExitCodes)}: {dest.Stderr.Trim()}");
            var identical = dest.Xml.AsSpan().SequenceEqual(migratable);
            libvirt.Figures.Migration(identical);
            checks.True(identical, "before_vm_migrate_destination: the migratable XML comes back byte-identical",
                FirstDifference(migratable, dest.Xml));
            WriteXml(name + ".migratable.xml", migratable);

            // 3. The guest "arrives": destroyed here, started (transient, as an incoming migration) from that XML.
            libvirt.VirshOk("destroy", name);
            libvirt.VirshOk("undefine", name);
            var incoming = WriteXml(name + ".incoming.xml", dest.Xml);
            Boot(name, c, () => libvirt.VirshOk("create", incoming));
            VerifyRunning(name, c, checks, "after migration");
        }
        catch (Exception e) when (e is not Xunit.Sdk.XunitException)
        {
            libvirt.Figures.CaseAborted(c.Id, e.Message);
            throw;
        }
        finally
        {
            libvirt.Remove(name);
        }
        libvirt.Figures.CaseDone(c.Id, checks, clock.Elapsed.TotalSeconds);
        checks.ThrowIfFailed();
    }

    public static TheoryData<string> CaseIds() => GuestCases.Ids();

    /// <summary>The case must be able to fail here: something is pinned narrower than the host's CPUs, within
    /// them.</summary>
    private void Precondition(GuestCase c)
    {
        var host = libvirt.Host.OnlineCpus;
        var pins = c.Expect.VcpuPins.Values.Select(CpuSet.Parse).ToList();
        if (!pins.All(p => p.Ids.All(host.Contains)))
            throw new InvalidOperationException(
                $"E2E CANNOT RUN case {c.Id}: it pins to host CPUs 0-1 but this host's online CPUs are {host}; the " +
                    $"suite needs a host with at least 2 CPUs");
        if (!pins.Any(p => !p.Equals(host)))
            throw new InvalidOperationException($"case {c.Id} pins every vCPU to all host CPUs ({host}): its " +
                $"affinity checks could not fail");
        // An I/O thread left unpinned inherits the emulator's (or all) CPUs: its pin must differ from both.
        foreach (var (id, cpus) in c.Expect.IoThreadPins ?? new Dictionary<int, string>())
            if (cpus == (c.Expect.Emulator ?? host.ToString()) || cpus == host.ToString())
                throw new InvalidOperationException($"case {c.Id} pins iothread {id} to {cpus}, what it would have " +
                    $"unpinned: its affinity check could not fail");
        if (!libvirt.Host.MemoryNodes.Contains(0))
            throw new InvalidOperationException($"E2E CANNOT RUN case {c.Id}: host NUMA node 0 has no memory " +
                $"({libvirt.Host.MemoryNodes})");
    }

    /// <summary>Starts the guest and waits until QEMU runs every online vCPU thread: the guest start time.</summary>
    private void Boot(string name, GuestCase c, Action start)
    {
        var clock = Stopwatch.StartNew();
        start();
        int VcpuThreads() => QemuProcess.Read(libvirt.QemuPid(name)).Threads.Count(t => t.VcpuId is not null);
        Poll.Wait(() => VcpuThreads() >= c.Expect.OnlineVcpus, TimeSpan.FromSeconds(60), $"guest {name} running its " +
            $"{c.Expect.OnlineVcpus} vCPU threads",
            () => $"{VcpuThreads()} running");
        libvirt.Figures.GuestBooted(clock.Elapsed.TotalSeconds);
        output.WriteLine($"guest {name} running after {clock.Elapsed.TotalSeconds:0.00} s ({libvirt.Accel})");
    }

    private void VerifyRunning(string name, GuestCase c, E2EChecks checks, string stage)
    {
        var e = c.Expect;
        var hostCpus = libvirt.Host.OnlineCpus.ToString();
        checks.Equal("running", libvirt.VirshOk("domstate", name).Trim(), $"{stage}: libvirt domain state");
        var qemu = QemuProcess.Read(libvirt.QemuPid(name));
        checks.Equal(libvirt.Accel, qemu.Accel, $"{stage}: QEMU accelerator (-accel)");
        checks.True(GuestExecutes(name), $"{stage}: vCPU 0 executes guest code (firmware): vcpu.0.time > 0");

        // Kernel: each vCPU thread's affinity is its vcpupin; every other QEMU thread has the emulatorpin.
        var vcpuThreads = qemu.Threads.Where(t => t.VcpuId is not null).ToList();
        checks.Equal(e.OnlineVcpus, vcpuThreads.Count,
            $"{stage}: number of 'CPU n/{libvirt.VcpuThreadSuffix}' threads");
        foreach (var t in vcpuThreads)
        {
            checks.Equal(libvirt.VcpuThreadSuffix, t.VcpuAccel, $"{stage}: thread '{t.Name}' runs on the expected " +
                $"accelerator");
            checks.Equal(e.VcpuPins.GetValueOrDefault(t.VcpuId!.Value, "(no such vCPU)"), t.CpusAllowed.ToString(),
                $"{stage}: kernel Cpus_allowed_list of '{t.Name}' (tid {t.Tid})");
        }
        var emulator = e.Emulator ?? hostCpus;
        foreach (var t in qemu.Threads.Where(IsEmulatorThread))
            checks.Equal(emulator, t.CpusAllowed.ToString(), $"{stage}: kernel Cpus_allowed_list of emulator thread " +
                $"'{t.Name}' (tid {t.Tid})");

        // Kernel: each I/O thread's affinity is its iothreadpin; QEMU (QMP query-iothreads) names its thread id.
        var ioPins = e.IoThreadPins ?? new Dictionary<int, string>();
        if (ioPins.Count > 0)
        {
            using var iothreads = Qmp(name, "query-iothreads");
            var tids = iothreads.RootElement.GetProperty("return").EnumerateArray()
                .ToDictionary(t => t.GetProperty("id").GetString()!, t => t.GetProperty("thread-id").GetInt32());
            var info = ParseTable(libvirt.VirshOk("iothreadinfo", name));
            foreach (var (id, cpus) in ioPins)
            {
                if (!checks.True(tids.TryGetValue($"iothread{id}", out var tid), $"{stage}: QMP query-iothreads " +
                    $"lists iothread{id}",
                        $"listed: {string.Join(", ", tids.Keys)}")) continue;
                var thread = qemu.Threads.FirstOrDefault(t => t.Tid == tid);
                if (!checks.True(thread is { IsIoThread: true }, $"{stage}: iothread{id}'s thread-id {tid} is a " +
                    $"kernel thread 'IO iothread{id}'",
                        $"found '{thread?.Name}'")) continue;
                checks.Equal(cpus, thread!.CpusAllowed.ToString(), $"{stage}: kernel Cpus_allowed_list of " +
                    $"'{thread.Name}' (tid {tid}, /proc/<qemu pid>/task/{tid}/status)");
                checks.Equal(cpus, info.TryGetValue(id.ToString(CultureInfo.InvariantCulture),
                    out var a) ? Canonical(a) : "(missing)",
                    $"{stage}: virsh iothreadinfo iothread {id}");
            }
        }

        // Kernel: strict and restrictive confine every thread's memory to the nodeset (cgroup cpuset.mems).
        // On a single-node host this cannot fail (every node set is "0"); see docs/e2e.md.
        if (e.NumatuneMode is "strict" or "restrictive")
            foreach (var t in qemu.Threads.Where(t => !t.Name.StartsWith("kvm-", StringComparison.Ordinal)))
                checks.Equal(e.HostNodes, Canonical(t.MemsAllowed), $"{stage}: kernel Mems_allowed_list of " +
                    $"'{t.Name}' (tid {t.Tid})");

        // QEMU: one -numa node per guest cell with its vCPUs and a backend of its size bound as numatune says.
        checks.Equal(e.Cells.Count, qemu.NumaNodes.Count, $"{stage}: QEMU argv -numa node count");
        for (var id = 0; id < e.Cells.Count; id++)
        {
            var cell = e.Cells[id];
            var node = qemu.NumaNodes.FirstOrDefault(n => n.NodeId == id);
            if (!checks.True(node is not null, $"{stage}: QEMU argv has -numa node,nodeid={id}")) continue;
            checks.Equal(cell.Vcpus, node!.Cpus.ToString(), $"{stage}: -numa node,nodeid={id} cpus");
            CheckBackend(checks, qemu, node.Memdev, cell.MiB, e, $"{stage}: -numa node,nodeid={id} memdev");
        }
        if (e.Cells.Count == 0)
            CheckBackend(checks, qemu, "pc.ram",
                qemu.Backends.FirstOrDefault(b => b.Id == "pc.ram")?.SizeBytes / (1024 * 1024) ?? -1, e,
                $"{stage}: guest RAM (-machine memory-backend=pc.ram)");
        var dimms = e.Dimms ?? [];
        checks.Equal(dimms.Count, qemu.Dimms.Count, $"{stage}: QEMU argv pc-dimm devices");
        foreach (var (dimm, i) in dimms.Select((d, i) => (d, i)))
        {
            if (i >= qemu.Dimms.Count) break;
            checks.Equal(dimm.Node, qemu.Dimms[i].Node, $"{stage}: pc-dimm {qemu.Dimms[i].Id} guest node");
            CheckBackend(checks, qemu, qemu.Dimms[i].Memdev, dimm.MiB, e,
                $"{stage}: pc-dimm {qemu.Dimms[i].Id} memdev");
        }

        // QEMU's own view (QMP): vCPU thread ids are the kernel threads above; each vCPU's guest node.
        var nodeOf = new Dictionary<int, int>();
        for (var id = 0; id < e.Cells.Count; id++)
            foreach (var v in CpuSet.Parse(e.Cells[id].Vcpus).Ids) nodeOf[v] = id;
        using (var cpus = Qmp(name, "query-cpus-fast"))
            foreach (var cpu in cpus.RootElement.GetProperty("return").EnumerateArray())
            {
                var index = cpu.GetProperty("cpu-index").GetInt32();
                var tid = cpu.GetProperty("thread-id").GetInt32();
                checks.Equal($"CPU {index}/{libvirt.VcpuThreadSuffix}",
                    qemu.Threads.FirstOrDefault(t => t.Tid == tid)?.Name,
                    $"{stage}: QMP query-cpus-fast cpu-index {index} thread-id {tid} is the kernel thread");
                if (nodeOf.Count > 0)
                    checks.Equal(nodeOf.GetValueOrDefault(index, -1),
                        cpu.GetProperty("props").TryGetProperty("node-id", out var n) ? n.GetInt32() : -1,
                        $"{stage}: QMP vCPU {index} guest node-id");
            }
        if (nodeOf.Count > 0)
            using (var slots = Qmp(name, "query-hotpluggable-cpus"))
            {
                // Every vCPU slot, online or not: how many sit in each guest cell.
                var perNode = slots.RootElement.GetProperty("return").EnumerateArray()
                    .GroupBy(s => s.GetProperty("props").TryGetProperty("node-id", out var n) ? n.GetInt32() : -1)
                    .ToDictionary(g => g.Key, g => g.Sum(s => s.GetProperty("vcpus-count").GetInt32()));
                for (var id = 0; id < e.Cells.Count; id++)
                    checks.Equal(CpuSet.Parse(e.Cells[id].Vcpus).Count, perNode.GetValueOrDefault(id),
                        $"{stage}: QMP query-hotpluggable-cpus vCPU slots in guest node {id}");
            }

        // libvirt's own view.
        var pins = ParseTable(libvirt.VirshOk("vcpupin", name));
        checks.Equal(e.VcpuPins.Count, pins.Count, $"{stage}: virsh vcpupin rows (vCPUs below the maximum)");
        foreach (var (vcpu, cpuset) in e.VcpuPins)
            checks.Equal(cpuset, pins.TryGetValue(vcpu.ToString(CultureInfo.InvariantCulture),
                out var p) ? Canonical(p) : "(missing)",
                $"{stage}: virsh vcpupin vCPU {vcpu}");
        // `virsh -q emulatorpin` prints the bare cpuset (without -q: a table ending in "*: CPUSET").
        var emulatorPin = libvirt.VirshOk("emulatorpin", name).Trim().Split('\n')[^1].Split(':')[^1].Trim();
        checks.Equal(emulator, Canonical(emulatorPin), $"{stage}: virsh emulatorpin");
        var numatune = ParseTable(libvirt.VirshOk("numatune", name), ':');
        checks.Equal(e.NumatuneMode, numatune.GetValueOrDefault("numa_mode"), $"{stage}: virsh numatune numa_mode");
        checks.Equal(e.HostNodes, numatune.GetValueOrDefault("numa_nodeset"), $"{stage}: virsh numatune numa_nodeset");
    }

    private static void CheckBackend(E2EChecks checks, QemuProcess qemu, string? id, long mib, GuestExpectation e,
        string what)
    {
        var backend = qemu.Backend(id);
        if (!checks.True(backend is not null, $"{what}: -object memory backend '{id}' exists")) return;
        checks.Equal(mib * 1024 * 1024, backend!.SizeBytes, $"{what} '{id}' size (bytes)");
        checks.Equal(e.Policy is null ? null : e.HostNodes, backend.HostNodes?.ToString(), $"{what} '{id}' host-nodes");
        checks.Equal(e.Policy, backend.Policy, $"{what} '{id}' policy");
        if (e.Backing is { } backing)
        {
            checks.Equal(backing.QomType, backend.QomType, $"{what} '{id}' QOM type");
            checks.Equal(backing.Shared, backend.Shared, $"{what} '{id}' share (the cell's memAccess)");
        }
    }

    /// <summary>Threads that carry the emulator pinning: not vCPUs, not iothreads (own pinning, checked above when
    /// asked for),
    /// not KVM's kernel workers (kvm-nx-lpage-recovery: a kernel thread whose affinity KVM sets).</summary>
    private static bool IsEmulatorThread(QemuThread t) =>
        t.VcpuId is null && !t.IsIoThread && !t.Name.StartsWith("kvm-", StringComparison.Ordinal);

    private bool GuestExecutes(string name)
    {
        return Poll.Until(() => ParseTable(libvirt.VirshOk("domstats", "--vcpu", name), '=').TryGetValue("vcpu.0.time",
            out var t)
            && long.TryParse(t, out var ns) && ns > 0, TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(100));
    }

    private JsonDocument Qmp(string name, string command) =>
        JsonDocument.Parse(libvirt.VirshOk("qemu-monitor-command", name, $$"""{"execute":"{{command}}"}"""));

    /// <summary>"key  value" (or "key : value") lines of virsh's tables; separator lines skipped.</summary>
    private static Dictionary<string, string> ParseTable(string text, char? separator = null)
    {
        var rows = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('-')) continue;
            string[] kv = separator is char s ? line.Split(s, 2) : line.Split((char[]?)null, 2,
                StringSplitOptions.RemoveEmptyEntries);
            if (kv.Length == 2) rows[kv[0].Trim()] = kv[1].Trim();
        }
        return rows;
    }

    private static string Canonical(string cpuset)
    {
        try { return CpuSet.Parse(cpuset).ToString(); }
        catch (Exception) { return cpuset; }
    }

    private string WriteXml(string file, byte[] xml)
    {
        var path = Path.Combine(libvirt.XmlDir, file);
        File.WriteAllBytes(path, xml);
        return path;
    }

    private static string Describe(IReadOnlyDictionary<string, string> properties) =>
        string.Join(";", properties.Select(kv => $"{kv.Key}={kv.Value}"));

    /// <summary>The first differing line of two documents, for the failure message.</summary>
    private static string FirstDifference(byte[] before, byte[] after)
    {
        var a = Encoding.UTF8.GetString(before).Split('\n');
        var b = Encoding.UTF8.GetString(after).Split('\n');
        for (var i = 0; i < Math.Max(a.Length, b.Length); i++)
        {
            var x = i < a.Length ? a[i] : "(end)";
            var y = i < b.Length ? b[i] : "(end)";
            if (x != y) return $"line {i + 1}: input `{x.Trim()}` became `{y.Trim()}`";
        }
        return before.Length == after.Length ? "" : $"{before.Length} bytes became {after.Length} bytes";
    }
}
