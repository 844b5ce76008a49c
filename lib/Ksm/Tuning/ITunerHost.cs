namespace Largeguest.Ksm.Tuning;

/// <summary>
/// What the tuner does to the host's KSM, all through the KSM library the hook uses: one sysfs model
/// with validated writes, one host-wide lock, one reconciler with its memory check.
/// </summary>
public interface ITunerHost
{
    /// <summary>Every file of /sys/kernel/mm/ksm as the kernel printed it; empty when the kernel has no KSM.</summary>
    IReadOnlyDictionary<string, string> ReadKsm();

    /// <summary>Writes one KSM file after validation. Call only while holding <see cref="Lock"/>.</summary>
    void WriteKsm(string file, string value);

    /// <summary>Takes the host-wide KSM lock (the one the hook's reconciler takes).</summary>
    IDisposable Lock();

    /// <summary>
    /// Unmerges every KSM page (run=2) after checking that the pages it has to allocate fit in MemAvailable less the
    /// reserve, within the unmerge time budget, and leaves ksmd stopped (run=0). Call while holding <see cref="Lock"/>.
    /// Returns a one-line account; throws when refused or failed, with run left at 0 or its previous value.
    /// </summary>
    string Prune(IDisposable held);

    /// <summary>
    /// When a transition of the reconciler died (its journal is there), lets the reconciler finish or roll it back, as
    /// docs/design.md section 6 asks before anything else touches KSM; returns its messages (none when there was no
    /// journal). Call before <see cref="Lock"/>: the reconciler takes the lock itself.
    /// </summary>
    IReadOnlyList<string> RecoverDiedTransition();

    /// <summary>
    /// Applies a merge_across_nodes host default through the reconciler; returns its one-line messages.
    /// </summary>
    IReadOnlyList<string> ReconcileMergeAcrossNodes(bool value);
}

public static class TunerHostExtensions
{
    /// <summary>Writes <c>run</c>. Call only while holding <see cref="ITunerHost.Lock"/>.</summary>
    public static void WriteRun(this ITunerHost host, KsmRun run) => host.WriteKsm(KsmFiles.Run, KsmFiles.Text(run));
}
