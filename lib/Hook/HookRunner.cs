using Largeguest.Config;
using Largeguest.Domain;
using Largeguest.Grammar;
using Largeguest.Host;
using Largeguest.IO;
using Largeguest.Ksm;

namespace Largeguest.Hook;

/// <summary>
/// One hook run (docs/design.md section 3) on the terms of <see cref="HookContract"/>: properties from the environment,
/// the domain XML at <c>_hook_domxml</c>, exit 0 (warnings on stderr) or 2 (one-line error, file byte-identical).
/// </summary>
public static class HookRunner
{
    private const int Success = HookContract.Success, Failure = HookContract.Failure;
    private const string DomXmlVariable = HookContract.DomXmlVariable;

    /// <summary>
    /// VDSM ran us for a VM without any property of ours (docs/design.md section 3): exit 0, nothing read or
    /// written: the answer <see cref="Run"/> gives such a run, asked of getenv before anything else is built.
    /// </summary>
    public static bool NothingAsked(Func<string, string?> getenv) =>
        getenv(DomXmlVariable) is not null && !LargeguestProperties.AnySet(getenv);

    /// <param name="stderr">Where messages go, asked for at the first one.</param>
    public static int Run(string argv0, IReadOnlyDictionary<string, string> environment, Func<TextWriter> stderr)
    {
        var diag = new Diagnostics(stderr);
        var invokedAs = HookPoints.FromInvocation(argv0);
        try
        {
            var values = LargeguestProperties.Select(name => environment.GetValueOrDefault(name));
            if (values.Count == 0)
            {
                if (environment.ContainsKey(DomXmlVariable))
                    return Success; // VDSM ran us for a VM without our properties
                diag.Error($"not run by VDSM: neither {DomXmlVariable} nor any of " +
                    $"{string.Join(", ", LargeguestProperties.Names)} is set; see 'largeguest --help'");
                return invokedAs.FailureExitCode();
            }
            var point = invokedAs
                ?? throw new HookException($"cannot tell the hook point from '{argv0}': its directory is not one of " +
                    $"{string.Join(", ", HookPoints.DirectoryNames)}; install it in a VDSM hook directory or use " +
                    "'largeguest apply'");
            var config = LargeguestConfig.Load(environment, privileged: false, diag.Warn);
            var properties = LargeguestProperties.Parse(values, config.DefaultMode);
            if (point == HookPoint.AfterVmDestroy)
            {
                if (properties.KsmMergeAcrossNodes is bool released)
                    KsmHookStep.Run(point, released, environment, config, diag);
                return Success;
            }
            // The new XML is computed (and every check passed) before KSM work, and written only after it:
            // a KSM failure under Ksm:OnFailure=fail leaves the file byte-identical.
            var commit = properties.EditsXml
                ? PrepareRewrite(environment, properties, config, HostContext.ForHost(config, diag), point)
                : null;
            if (commit is not null && !point.UsesHookXml())
            {
                // The XML lacks what the properties ask (the source host did not run largeguest, or the saved image
                // predates the properties): VDSM would discard a rewrite here, so claim none.
                diag.Warn($"{string.Join(", ", EditingProperties(properties))}: the domain XML given at " +
                    $"{point.DirectoryName()} lacks what " +
                    "these properties ask, and VDSM does not use XML a hook writes there (the domain comes from the " +
                    (point == HookPoint.BeforeVmMigrateDestination ? "source host" : "saved image") +
                    "); the request takes effect at the VM's next start");
                commit = null;
            }
            if (properties.KsmMergeAcrossNodes is bool ksm && !KsmHookStep.Run(point, ksm, environment, config, diag))
                return Failure;
            commit?.Invoke();
            return Success;
        }
        catch (Exception e) { diag.Error(HookContract.Describe(e)); }
        return invokedAs.FailureExitCode();
    }

    /// <summary>The names of the set properties that edit the domain XML, for messages.</summary>
    private static IEnumerable<string> EditingProperties(LargeguestProperties p) =>
        p.Canonical().Select(c => c.Name).Where(n => n != LargeguestProperties.KsmMergeAcrossNodesName).Distinct();

    /// <summary>VDSM's CPU management against the pins asked for: throws a refusal, prints a warning.</summary>
    public static void CheckCpuPolicy(DomainDocument doc, LargeguestProperties properties, LargeguestConfig config,
        Diagnostics diag, bool refuse = true)
    {
        if (properties.CpuTune is null && properties.PinCpu is null) return;
        if (VdsmCpuPolicy.Read(doc).Judge(properties, doc.MaxVcpus, config.CpuTuneSharedPolicy, refuse)
            is not { } finding) return;
        if (finding.Refuse) throw finding.AsError();
        diag.Warn(finding.AsWarning());
    }

    /// <summary>Reads and rewrites the domain XML; returns the write still to be done, or null when nothing
    /// changes.</summary>
    private static Action? PrepareRewrite(IReadOnlyDictionary<string, string> environment,
        LargeguestProperties properties, LargeguestConfig config, HostContext host, HookPoint point)
    {
        var path = environment.GetValueOrDefault(DomXmlVariable);
        if (string.IsNullOrEmpty(path))
            throw new HookException($"{DomXmlVariable}: not set (expected: the path of the domain XML, set by VDSM)");
        var original = HookContract.ReadDomain(path, DomXmlVariable);

        var rewritten = Rewrite(original, properties, config, host, point);
        if (rewritten.Span.SequenceEqual(original))
            return null; // already as asked: leave the file (and its mtime) alone
        return () => HookContract.WriteDomain(path, rewritten.Span, durable: false,
            DomXmlVariable); // VDSM's temp file: no fsync
    }

    /// <summary>
    /// The transformation checked against the host as well (docs/design.md section 5): after the domain checks, and
    /// only when a property asks something of the host, the topology is read (<see cref="HostContext.Topology"/>)
    /// and <see cref="HostChecks"/> decides; its first error is thrown, its warnings and notes go to stderr,
    /// and its rewrites (strict-memory policy <c>prefer</c>) are what gets applied. Pins VDSM's CPU management would
    /// undo (<see cref="VdsmCpuPolicy"/>) are refused or warned about, refused only where VDSM uses the XML.
    /// </summary>
    public static ReadOnlyMemory<byte> Rewrite(byte[] original, LargeguestProperties properties,
        LargeguestConfig config, HostContext host,
        HookPoint point = HookPoint.BeforeVmStart)
    {
        var doc = DomainDocument.Parse(original);
        DomainChecks.Check(doc, properties);
        CheckCpuPolicy(doc, properties, config, host.Diagnostics, point.UsesHookXml());
        DomainChecks.CheckGuestTopology(doc, properties,
            point.UsesHookXml() && config.GuestNumaTopologyMismatch == FailurePolicy.Fail,
            host.Diagnostics.Warn);
        if (properties.NumaAuto && Numad.Check(config.NumadPath) is { } noNumad) throw noNumad;
        IReadOnlyDictionary<int, NumaMode>? cellModes = null;
        if (HostChecks.Needed(properties))
        {
            var facts = new DomainFacts(doc.Memory, doc.HugePageKiB);
            var verdict = HostChecks.Check(facts, properties, host.Topology(facts.HugePageKiB is not null),
                config, host.PreferredMany);
            if (verdict.Errors.Count > 0) throw verdict.Errors[0];
            foreach (var warning in verdict.Warnings) host.Diagnostics.Warn(warning);
            foreach (var note in verdict.Notes) host.Diagnostics.Note(note);
            properties = verdict.Properties;
            cellModes = verdict.CellModes;
        }
        DomainRewriter.Edit(doc, properties, config.DefaultMode, cellModes, host.Diagnostics.Warn);
        return doc.ToBytes();
    }
}

/// <summary>
/// What the host-aware rewrite needs from its caller: a way to read the topology (called at most once, only
/// when a property needs host facts; its argument says whether huge page pools are needed), where
/// warnings go, and whether the host can start <c>preferred</c> on several nodes (asked only for such a binding).
/// </summary>
public sealed record HostContext(Func<bool, HostTopology> Topology, Diagnostics Diagnostics,
    Func<PreferredMany> PreferredMany)
{
    /// <summary>This host, read as configured (<c>Topology:Source</c>), with this host's libvirt and kernel.</summary>
    public static HostContext ForHost(LargeguestConfig config, Diagnostics diag) =>
        new(hugePages => TopologyLoader.Load(config, diag.Note, cpuTopology: false, hugePages),
            diag, Host.PreferredMany.Probe);
}

/// <summary>A failure of the hook's surroundings (variables, files) rather than of a property.</summary>
public sealed class HookException(string message) : Exception(message);
