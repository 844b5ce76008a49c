using Largeguest.Config;

namespace Largeguest.Ksm;

/// <summary>
/// The privileged KSM operations, as the hook runs them in-process when it is root and as
/// <c>largeguest ksm reconcile|release</c> runs them behind sudo: register the VM's request and reconcile,
/// or release the request (no unmerge, no KSM write).
/// </summary>
public static class KsmService
{
    /// <summary>The liveness source for stale-request detection: libvirt at Topology:LibvirtUri (see docs/ksm.md).</summary>
    public static IVmLiveness Liveness(LargeguestConfig config) => new LibvirtLiveness(config.LibvirtUri);

    public static KsmOutcome Reconcile(KsmHelperCall call, LargeguestConfig config, IKsmKernel? kernel = null, IVmLiveness? liveness = null, TimeProvider? time = null)
    {
        if (call.MergeAcrossNodes is not bool value) throw new ArgumentException("a release call", nameof(call));
        var clock = time ?? TimeProvider.System;
        new KsmRequests(config.KsmStateDir).Register(new KsmRequest(call.Vm, value, clock.GetUtcNow()));
        var outcome = new KsmReconciler(kernel ?? new KsmSysfs(), config.KsmStateDir, KsmPolicy.From(config), liveness ?? Liveness(config), clock)
            .Reconcile();
        if (outcome.Desired is bool desired && desired != value)
            outcome = outcome with
            {
                Notes = [.. outcome.Notes, $"ksm: VM {call.Vm} asks merge_across_nodes={(value ? 1 : 0)} but another VM asks 0, and 0 wins; the host keeps 0"],
            };
        return outcome;
    }

    public static KsmOutcome Release(KsmHelperCall call, LargeguestConfig config)
    {
        var removed = new KsmRequests(config.KsmStateDir).Release(call.Vm);
        return new KsmOutcome(false, null, removed ? [] : [$"ksm: VM {call.Vm} had no KSM request registered"], []);
    }

    /// <summary>Runs a call in this process when root, else through <c>sudo -n</c>; returns the lines to print.</summary>
    public static IReadOnlyList<(bool Warning, string Text)> Run(KsmHelperCall call, LargeguestConfig config)
    {
        if (!Environment.IsPrivilegedProcess)
            return KsmHelperClient.Run(call).Select(Classify).ToList();
        var outcome = call.IsRelease ? Release(call, config) : Reconcile(call, config);
        return Lines(outcome);
    }

    public static IReadOnlyList<(bool Warning, string Text)> Lines(KsmOutcome outcome) =>
        [.. outcome.Warnings.Select(w => (true, w)), .. outcome.Notes.Select(n => (false, n))];

    /// <summary>A line the privileged helper printed, as (is it a warning, text without the program prefix).</summary>
    public static (bool Warning, string Text) Classify(string line)
    {
        const string warning = "largeguest: warning: ", note = "largeguest: note: ";
        if (line.StartsWith(warning, StringComparison.Ordinal)) return (true, line[warning.Length..]);
        if (line.StartsWith(note, StringComparison.Ordinal)) return (false, line[note.Length..]);
        return (false, line);
    }
}
