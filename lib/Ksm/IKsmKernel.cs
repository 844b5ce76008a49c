namespace Largeguest.Ksm;

/// <summary>
/// What the reconciler's runner does to the kernel. <see cref="KsmSysfs"/> is the real one; the test suite
/// has a simulator that reproduces the kernel's rules for failures the real kernel cannot produce on demand.
/// </summary>
public interface IKsmKernel
{
    /// <summary>Where the KSM files live (for messages).</summary>
    string Root { get; }

    /// <summary>Reads every KSM file, or only <paramref name="only"/> (the files a decision needs: see
    /// <see cref="KsmPlanner.Inputs"/>).</summary>
    KsmState Read(IReadOnlyCollection<string>? only = null);

    /// <summary>Writes one file after range validation; throws <see cref="KsmValueException"/> or
    /// <see cref="KsmWriteException"/>.</summary>
    void Write(string file, string value);

    /// <summary>
    /// Writes 2 to <c>run</c> (unmerge every KSM page, synchronously in the kernel) and interrupts it when it
    /// takes longer than <paramref name="budget"/>. The kernel sets <c>run</c> to 0 when an unmerge is interrupted.
    /// <paramref name="held"/> is the host lock, kept held for as long as the unmerge can still be running.
    /// </summary>
    UnmergeResult Unmerge(TimeSpan budget, HostLock held);

    /// <summary><c>MemAvailable</c> of <c>/proc/meminfo</c>, in bytes.</summary>
    long MemAvailableBytes();

    long PageSize { get; }
}

public static class KsmKernelExtensions
{
    /// <summary>Unmerges everything within <paramref name="budget"/>; run=2 left by someone is left first, since only a
    /// fresh write of 2 unmerges.</summary>
    public static UnmergeResult StartUnmerge(this IKsmKernel kernel, KsmState state, TimeSpan budget, HostLock held)
    {
        if (state.Run == KsmRun.Unmerge) kernel.WriteRun(KsmRun.Stop);
        return kernel.Unmerge(budget, held);
    }

    public static void WriteRun(this IKsmKernel kernel, KsmRun run) => kernel.Write(KsmFiles.Run, KsmFiles.Text(run));

    public static void WriteMergeAcrossNodes(this IKsmKernel kernel, bool value) =>
        kernel.Write(KsmFiles.MergeAcrossNodes, KsmFiles.Bit(value));
}

public enum UnmergeStatus
{
    Completed,
    /// <summary>Interrupted at the time budget; the kernel has set run to 0.</summary>
    TimedOut,
    Failed,
    /// <summary>The writer did not end even after SIGKILL: the kernel is still in the unmerge and the lock stays
    /// held.</summary>
    Stuck,
}

/// <summary>How an unmerge ended; <see cref="Detail"/> is the kernel's or the writer's word on a failure.</summary>
public sealed record UnmergeResult(UnmergeStatus Status, TimeSpan Elapsed, string Detail = "")
{
    /// <summary>The kernel may still be inside the unmerge: a write to <c>run</c> now would block on its mutex, so
    /// leave <c>run</c> alone.</summary>
    public bool LeavesRunAlone => Status == UnmergeStatus.Stuck;

    /// <summary>
    /// What went wrong, in words ("unmerging 20 pages did not finish within 10 s (...) and was interrupted"), or null
    /// when it completed: the one reading of an unmerge's end, for the reconciler's transition and for
    /// <c>ksm prune</c>.
    /// </summary>
    public string? Failure(string pages, UnmergeTimeLimit limit) => Status switch
    {
        UnmergeStatus.Completed => null,
        UnmergeStatus.TimedOut =>
            $"unmerging {pages} did not finish within {ChildWriter.Seconds(limit.Limit)} ({limit.Source}) " +
            $"and was interrupted",
        UnmergeStatus.Stuck => Detail,
        _ => $"unmerging {pages} failed: {Detail}",
    };
}
