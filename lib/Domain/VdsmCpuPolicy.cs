using System.Xml.Linq;
using Largeguest.Grammar;

namespace Largeguest.Domain;

/// <summary>The engine's CPU Pinning Policy as VDSM reads it from <c>&lt;ovirt-vm:cpuPolicy&gt;</c>
/// (docs/vdsm-and-mom.md).</summary>
public enum CpuPolicy { None, Manual, Dedicated, IsolateThreads, Siblings }

/// <summary>
/// What VDSM's CPU management will do to our pins once the domain is up (docs/vdsm-and-mom.md):
/// with <c>none</c> it pins every vCPU to the host's shared CPU pool; with <c>manual</c> it keeps the vCPUs in
/// <c>manuallyPinedCPUs</c> (all pinned ones when the engine gave no list) and moves the rest; with the exclusive
/// policies the engine owns the VM's CPUs. With no policy in the metadata VDSM infers <c>manual</c> from the pins
/// our rewrite writes, so they last. A pure function of the domain's metadata and the properties.
/// </summary>
public sealed record VdsmCpuPolicy(CpuPolicy? Policy, string? Unknown, CpuSet? ManuallyPinned)
{
    public static readonly XNamespace OvirtVm = "http://ovirt.org/vm/1.0";

    private static readonly (string Name, CpuPolicy Policy)[] Names =
    [
        ("none", CpuPolicy.None), ("manual", CpuPolicy.Manual), ("dedicated", CpuPolicy.Dedicated),
        ("isolate-threads", CpuPolicy.IsolateThreads), ("siblings", CpuPolicy.Siblings),
    ];

    public static string NameOf(CpuPolicy policy) => Names.First(n => n.Policy == policy).Name;

    /// <summary>The policy as written in the metadata, for messages.</summary>
    public string Written => Unknown ?? (Policy is CpuPolicy p ? NameOf(p) : "(none in the metadata)");

    /// <summary>Reads <c>&lt;metadata&gt;&lt;ovirt-vm:vm&gt;&lt;ovirt-vm:cpuPolicy&gt;</c> and <c>manuallyPinedCPUs</c>
    /// (VDSM's spelling).</summary>
    public static VdsmCpuPolicy Read(DomainDocument doc)
    {
        var vm = doc.Root.Element("metadata")?.Element(OvirtVm + "vm");
        var written = vm?.Element(OvirtVm + "cpuPolicy")?.Value.Trim();
        var pinnedText = vm?.Element(OvirtVm + "manuallyPinedCPUs")?.Value.Trim();
        CpuSet? pinned = null;
        if (!string.IsNullOrEmpty(pinnedText))
        {
            try { pinned = CpuSet.Parse(pinnedText); }
            catch (SyntaxException e)
            {
                throw new DomainXmlException(
                    $"domain XML: <ovirt-vm:manuallyPinedCPUs> '{pinnedText}': {e.Problem} (expected: {e.Expected})");
            }
        }
        if (string.IsNullOrEmpty(written)) return new(null, null, pinned);
        foreach (var (name, policy) in Names)
            if (name == written) return new(policy, null, pinned);
        return new(null, written, pinned);
    }

    /// <summary>
    /// The finding for <paramref name="p"/>'s pins under this policy, or null when they last. <paramref name="shared"/>
    /// is <c>CpuTune:SharedPolicy</c> (pins VDSM moves back to the shared pool: refuse or warn);
    /// <paramref name="refuse"/> false turns every refusal into a warning (hook points whose XML VDSM does not use:
    /// refusing cannot keep a pin).
    /// </summary>
    public CpuPolicyFinding? Judge(
        LargeguestProperties p, int maxVcpus, Config.FailurePolicy shared, bool refuse = true)
    {
        if (p.CpuTune is null && p.PinCpu is null) return null;
        var pinsVcpus = p.CpuTune?.Pins.Count > 0;
        var property = p.CpuTune is not null ? LargeguestProperties.Cputune : LargeguestProperties.Pincpu;
        const string manual = "in the engine, CPU Pinning Policy \"Manual\" with a pinning string " +
            "('largeguest suggest' prints one) and the VM pinned to its hosts";

        if (Unknown is not null)
            return new(property,
                $"the domain metadata names CPU Pinning Policy '{Unknown}', which largeguest does not know; " +
                "it cannot tell whether VDSM keeps these pins",
                $"one of {string.Join(", ", Names.Select(n => n.Name))}", refuse);
        if (Policy is CpuPolicy.Dedicated or CpuPolicy.IsolateThreads or CpuPolicy.Siblings)
            return new(property,
                $"the VM's CPU Pinning Policy is '{Written}': the engine allocates this VM's CPUs exclusively " +
                "and VDSM pins them itself; largeguest does not pin over it",
                $"{manual}, or no cputune/pincpu property", refuse);

        // Which vCPUs VDSM moves to the shared pool: all under none; under manual those outside the engine's list.
        if (Policy is not (CpuPolicy.None or CpuPolicy.Manual)) return null;
        var moved = new List<int>();
        if (p.CpuTune is { } tune && pinsVcpus)
            foreach (var (vcpu, _) in tune.PinnedVcpus) moved.Add(vcpu);
        else if (p.PinCpu is not null)
            for (var v = 0; v < maxVcpus; v++) moved.Add(v);
        if (Policy == CpuPolicy.Manual)
        {
            if (ManuallyPinned is { } kept) moved.RemoveAll(kept.Contains);
            else moved.Clear(); // no engine list to compare with: nothing is known to move
        }
        if (moved.Count == 0) return null;
        var why = Policy == CpuPolicy.None
            ? "the VM's CPU Pinning Policy is 'none'"
            : $"the VM's CPU Pinning Policy is 'manual' but the engine's manuallyPinedCPUs ({ManuallyPinned}) " +
                $"leaves out {DomainChecks.Vcpus(moved)}";
        var outcome =
            $"VDSM moves {DomainChecks.Vcpus(moved)} back to the host's shared CPU pool within a second of boot";
        if (shared == Config.FailurePolicy.Fail && refuse)
            return new(property, $"{why}: {outcome}, so these pins would not last",
                $"{manual}; or CpuTune:SharedPolicy=warn to write them anyway", true);
        return new(property, $"{(refuse ? "pins written, but " : "")}{why}: {outcome}; these pins will not last",
            manual, false);
    }
}

/// <summary>A CPU-policy verdict: an error to refuse the start with, or a warning line.</summary>
public sealed record CpuPolicyFinding(string Property, string Problem, string Expected, bool Refuse)
{
    public PropertyException AsError() => new(Property, Problem, Expected);

    public string AsWarning() =>
        Expected.Length == 0 ? $"{Property}: {Problem}" : $"{Property}: {Problem} (would need: {Expected})";
}
