using Largeguest.Tests.Support;

namespace Largeguest.Tests.E2E;

/// <summary>What one guest NUMA cell must look like in the running QEMU.</summary>
/// <param name="Vcpus">The vCPUs of the cell (<c>-numa node,cpus=</c>; QEMU's node-id of each vCPU).</param>
/// <param name="MiB">Size of the cell's memory backend.</param>
public sealed record CellExpectation(string Vcpus, long MiB);

/// <summary>A hot-plugged DIMM: the guest cell it sits in and its size.</summary>
public sealed record DimmExpectation(int Node, long MiB);

/// <summary>
/// What the administrator asked for, written out by hand from the properties (the test's oracle: it is
/// NOT derived from the hook's output, so a hook that writes the wrong XML fails the checks).
/// </summary>
/// <param name="VcpuPins">Every vCPU below the maximum → the host CPUs it may run on.</param>
/// <param name="OnlineVcpus">vCPUs QEMU starts (the domain's current count): threads "CPU n/KVM".</param>
/// <param name="Emulator">The emulator threads' host CPUs; null = not pinned (all online host CPUs).</param>
/// <param name="Cells">Guest NUMA cells; empty = none (the guest's RAM is one backend, pc.ram).</param>
/// <param name="Policy">QEMU's memory backend policy from numatune (bind, preferred, interleave); null for
/// restrictive, where libvirt leaves the backends unbound and confines the process with cgroup cpuset.mems.</param>
/// <param name="HostNodes">The numatune nodeset: the backends' host-nodes (when bound) and the
/// Mems_allowed_list of every QEMU thread for strict and restrictive.</param>
/// <param name="NumatuneMode">What `virsh numatune` reports as numa_mode.</param>
/// <param name="IoThreadPins">I/O thread id → the host CPUs its thread may run on; null = none pinned.</param>
/// <param name="Backing">The QOM type of every cell's memory backend and whether it is shared; null = not
/// checked.</param>
public sealed record GuestExpectation(
    IReadOnlyDictionary<int, string> VcpuPins,
    int OnlineVcpus,
    string? Emulator,
    IReadOnlyList<CellExpectation> Cells,
    string? Policy,
    string HostNodes,
    string NumatuneMode,
    IReadOnlyList<DimmExpectation>? Dimms = null,
    IReadOnlyDictionary<int, string>? IoThreadPins = null,
    BackingExpectation? Backing = null);

/// <summary>How the guest's cells are backed: <c>memory-backend-memfd</c> from <c>&lt;source type='memfd'/&gt;</c>, and
/// <c>share=true</c> from each cell's <c>memAccess='shared'</c> (what vhost-user needs).</summary>
public sealed record BackingExpectation(string QomType, bool Shared);

/// <summary>A realistic oVirt domain (Domains/TEMPLATE.xml, default: the case id), the custom properties VDSM
/// would pass, and the expectation.</summary>
public sealed record GuestCase(string Id, string Description, IReadOnlyDictionary<string, string> Properties,
    GuestExpectation Expect,
    string? Template = null)
{
    public override string ToString() => Id;

    /// <summary>The domain XML as VDSM would hand it to before_vm_start, for this guest name, UUID and domain
    /// type.</summary>
    public byte[] Xml(string name, string uuid, string domainType)
    {
        var path = Path.Combine(PublishedBinary.RepoRoot, "tests", "Largeguest.Tests", "E2E", "Domains",
            (Template ?? Id) + ".xml");
        var text = File.ReadAllText(path).Replace("@NAME@", name).Replace("@UUID@", uuid)
            .Replace("@DOMAIN_TYPE@", domainType);
        return System.Text.Encoding.UTF8.GetBytes(text);
    }
}

/// <summary>
/// The guests the end-to-end suite boots. They use host CPUs 0 and 1 and host node 0 only, so they run
/// on any host with two CPUs; every case pins at least one vCPU to a single CPU, so a pinning that did
/// not happen (all CPUs allowed) is caught.
/// </summary>
public static class GuestCases
{
    public static readonly IReadOnlyList<GuestCase> All =
    [
        new("db-strict",
            "q35, 4 vCPUs in 2 cells, engine's single cell and vcpupin replaced, iothread pinned off the emulator, " +
                "strict memory",
            new Dictionary<string, string>
            {
                ["cputune"] = "0#0,1#1,2#0,3#0-1,emulator#1,iothread1#0",
                ["guestnuma"] = "0-1#128M,2-3#128M",
                ["numatune"] = "strict#0",
            },
            new GuestExpectation(
                VcpuPins: new Dictionary<int, string> { [0] = "0", [1] = "1", [2] = "0", [3] = "0-1" },
                OnlineVcpus: 4, Emulator: "1",
                Cells: [new("0-1", 128), new("2-3", 128)],
                Policy: "bind", HostNodes: "0", NumatuneMode: "strict",
                IoThreadPins: new Dictionary<int, string> { [1] = "0" })),

        new("app-hotplug",
            "CPU + memory hot-plug: 2 of 4 vCPUs online, a DIMM in cell 1, vCPU range with exclusion, preferred memory",
            new Dictionary<string, string>
            {
                ["cputune"] = "0-3#0-1,^0,emulator#0",
                ["guestnuma"] = "0-1#128M,2-3#128MiB",
                ["numatune"] = "preferred#0",
            },
            new GuestExpectation(
                VcpuPins: new Dictionary<int, string> { [0] = "1", [1] = "1", [2] = "1", [3] = "1" },
                OnlineVcpus: 2, Emulator: "0",
                Cells: [new("0-1", 128), new("2-3", 128)],
                Policy: "preferred", HostNodes: "0", NumatuneMode: "preferred",
                Dimms: [new(1, 128)])),

        new("legacy-interleave",
            "i440fx, no guest NUMA, the retired hooks' pincpu and numa properties, interleaved memory",
            new Dictionary<string, string>
            {
                ["pincpu"] = "0-1,^0",
                ["numa"] = "interleave:0",
            },
            new GuestExpectation(
                VcpuPins: new Dictionary<int, string> { [0] = "1", [1] = "1" },
                OnlineVcpus: 2, Emulator: "1", // <vcpu cpuset> is also the emulator's default pinning
                Cells: [],
                Policy: "interleave", HostNodes: "0", NumatuneMode: "interleave")),

        new("sap-cells",
            "2 sockets x 2 cores, cells with a host node each (memnode), emulator off vCPUs 0-1, interleave",
            new Dictionary<string, string>
            {
                ["cputune"] = "0#1,1#1,2#0,3#0,emulator#0",
                ["guestnuma"] = "0-1#256M#0,2-3#256M#0",
                ["numatune"] = "interleave#0",
            },
            new GuestExpectation(
                VcpuPins: new Dictionary<int, string> { [0] = "1", [1] = "1", [2] = "0", [3] = "0" },
                OnlineVcpus: 4, Emulator: "0",
                Cells: [new("0-1", 256), new("2-3", 256)],
                Policy: "interleave", HostNodes: "0", NumatuneMode: "interleave")),

        new("sap-restrictive",
            "the SAP guest as one cell, restrictive memory (libvirt binds no backend, only cgroup cpuset.mems), " +
                "emulator not pinned",
            new Dictionary<string, string>
            {
                ["cputune"] = "0#1,1#1,2#0,3#0",
                ["guestnuma"] = "0-3#512M",
                ["numatune"] = "restrictive#0",
            },
            new GuestExpectation(
                VcpuPins: new Dictionary<int, string> { [0] = "1", [1] = "1", [2] = "0", [3] = "0" },
                OnlineVcpus: 4, Emulator: null,
                Cells: [new("0-3", 512)],
                Policy: null, HostNodes: "0", NumatuneMode: "restrictive"),
            Template: "sap-cells"),

        new("vhost-memfd",
            "vhost-user style: memfd backing, the engine's one cell with memAccess='shared' split in two; the new " +
                "cells stay shared",
            new Dictionary<string, string>
            {
                ["cputune"] = "0#0,1#0,2#1,3#1,emulator#1",
                ["guestnuma"] = "0-1#128M,2-3#128M",
                ["numatune"] = "strict#0",
            },
            new GuestExpectation(
                VcpuPins: new Dictionary<int, string> { [0] = "0", [1] = "0", [2] = "1", [3] = "1" },
                OnlineVcpus: 4, Emulator: "1",
                Cells: [new("0-1", 128), new("2-3", 128)],
                Policy: "bind", HostNodes: "0", NumatuneMode: "strict",
                Backing: new("memory-backend-memfd", Shared: true))),
    ];

    public static GuestCase Get(string id) => All.Single(c => c.Id == id);

    public static TheoryData<string> Ids()
    {
        var data = new TheoryData<string>();
        foreach (var c in All) data.Add(c.Id);
        return data;
    }
}
