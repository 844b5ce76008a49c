using Largeguest.Config;
using Largeguest.IO;
using Largeguest.Ksm.Mom;

namespace Largeguest.Ksm;

/// <summary>
/// The privileged KSM operations, as the hook runs them in-process when it is root and as
/// <c>largeguest ksm reconcile|release</c> runs them behind sudo: register the VM's request and reconcile,
/// or release the request (no unmerge, no KSM write). Either then tells MoM the host's value when MoM manages KSM.
/// </summary>
public static class KsmService
{
    /// <summary>The liveness source for stale-request detection: libvirt at Topology:LibvirtUri (see
    /// docs/ksm.md).</summary>
    public static IVmLiveness Liveness(LargeguestConfig config) => new LibvirtLiveness(config.LibvirtUri);

    public static KsmOutcome Reconcile(KsmHelperCall call, LargeguestConfig config, IKsmKernel? kernel = null,
        IVmLiveness? liveness = null, TimeProvider? time = null)
    {
        if (call.MergeAcrossNodes is not bool value) throw new ArgumentException("a release call", nameof(call));
        var clock = time ?? TimeProvider.System;
        new KsmRequests(config.KsmStateDir, config.KsmMaxRequests)
            .Register(new KsmRequest(call.Vm, value, clock.GetUtcNow()));
        var reconciler = Reconciler(config, kernel, liveness, clock);
        var outcome = reconciler.Reconcile();
        if (outcome.Desired is bool desired && desired != value)
            outcome = outcome with
            {
                Notes = [.. outcome.Notes,
                    $"ksm: VM {call.Vm} asks merge_across_nodes={KsmFiles.Bit(value)} but another VM asks 0, " +
                    $"and 0 wins; the host keeps 0"],
            };
        return TellMom(config, () => reconciler, outcome, release: false);
    }

    public static KsmOutcome Release(KsmHelperCall call, LargeguestConfig config, IKsmKernel? kernel = null,
        IVmLiveness? liveness = null, TimeProvider? time = null)
    {
        var removed = new KsmRequests(config.KsmStateDir).Release(call.Vm);
        var outcome = new KsmOutcome(
            false, null, removed ? [] : [$"ksm: VM {call.Vm} had no KSM request registered"], []);
        return TellMom(
            config, () => Reconciler(config, kernel, liveness, time ?? TimeProvider.System), outcome, release: true);
    }

    private static KsmReconciler Reconciler(
        LargeguestConfig config, IKsmKernel? kernel, IVmLiveness? liveness, TimeProvider clock) =>
        new(kernel ?? new KsmSysfs(), config.KsmStateDir, KsmPolicy.From(config), liveness ?? Liveness(config), clock);

    /// <summary>
    /// When MoM manages KSM (docs/ksm.md, "MoM"): under the host lock, publish the value the registry asks for once the
    /// host holds it (else none). No MoM configuration file: one stat, nothing else. A failure after a reconcile is a
    /// <see cref="KsmException"/> (the hook's Ksm:OnFailure decides) carrying the reconcile's lines; after a release, a
    /// warning.
    /// </summary>
    private static KsmOutcome TellMom(
        LargeguestConfig config, Func<KsmReconciler> reconciler, KsmOutcome outcome, bool release)
    {
        MomPublication published;
        try
        {
            if (MomConfig.Load(config.MomConfigPath) is not { ManagesKsm: true } mom) return outcome;
            var r = reconciler();
            using var held = r.StateDirectory.Lock(config.KsmLockTimeout);
            var (desire, current) = r.Settled();
            published = MomPublisher.Publish(mom, MomPublisher.Publishable(desire.Value, current));
        }
        catch (KsmException e) { published = new MomPublication(null, e.Message); }
        if (published.Failure is null)
            return published.Note is null ? outcome : outcome with { Notes = [.. outcome.Notes, published.Note] };
        if (release) return outcome with { Warnings = [.. outcome.Warnings, published.Failure] };
        throw new KsmException(published.Failure) { Earlier = Lines(outcome) };
    }

    /// <summary>Runs a call in this process when root, else through <c>sudo -n</c>; returns the lines to
    /// print.</summary>
    public static IReadOnlyList<(bool Warning, string Text)> Run(KsmHelperCall call, LargeguestConfig config)
    {
        if (!Environment.IsPrivilegedProcess)
            return KsmHelperClient.Run(call).Select(Classify).ToList();
        return RunAsRoot(call, config);
    }

    /// <summary>
    /// The call in this (root) process, once the state directory has passed its owner and mode check (docs/ksm.md,
    /// "State directory"). A change of the host's KSM settings is also written to syslog with the VM (docs/ksm.md,
    /// "Logs"), and so is a failure.
    /// </summary>
    public static IReadOnlyList<(bool Warning, string Text)> RunAsRoot(KsmHelperCall call, LargeguestConfig config)
    {
        var verb = call.IsRelease ? KsmHelperCall.ReleaseVerb : KsmHelperCall.ReconcileVerb;
        try
        {
            // before anything in it is read, written or locked
            new KsmStateDirectory(config.KsmStateDir).CheckTrusted();
            var outcome = call.IsRelease ? Release(call, config) : Reconcile(call, config);
            var lines = Lines(outcome);
            if (outcome.Changed)
                foreach (var (warning, text) in lines)
                    Syslog.Send(
                        warning ? Syslog.Severity.Warning : Syslog.Severity.Notice, $"VM {call.Vm} {verb}: {text}");
            return lines;
        }
        catch (KsmException e)
        {
            foreach (var (_, text) in e.Earlier) Syslog.Send(Syslog.Severity.Notice, $"VM {call.Vm} {verb}: {text}");
            Syslog.Send(Syslog.Severity.Error, $"VM {call.Vm} {verb}: failed: {e.Message}");
            throw;
        }
    }

    public static IReadOnlyList<(bool Warning, string Text)> Lines(KsmOutcome outcome) =>
        [.. outcome.Warnings.Select(w => (true, w)), .. outcome.Notes.Select(n => (false, n))];

    /// <summary>A line the privileged helper printed, as (is it a warning, text without the program prefix:
    /// <see cref="Diagnostics.Parse"/>).</summary>
    public static (bool Warning, string Text) Classify(string line) => Diagnostics.Parse(line) switch
    {
        { Severity: Diagnostics.Severity.Warning } w => (true, w.Text),
        { Severity: Diagnostics.Severity.Note } n => (false, n.Text),
        _ => (false, line),
    };
}
