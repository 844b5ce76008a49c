using Largeguest.Ksm;

namespace Largeguest.Tests.Ksm;

/// <summary>
/// A KSM simulator for the runner, reproducing the kernel's rules (mm/ksm.c) for failures the real kernel
/// cannot produce on demand: EBUSY on merge_across_nodes while pages are shared (or stable nodes linger),
/// run=2 clearing the counters at a memory cost (ENOMEM when it does not fit), writing 2 when run is already
/// 2 doing nothing, an unmerge interrupted at its budget leaving run=0, and a "crash" at any named step.
/// </summary>
public sealed class SimulatedKsm : IKsmKernel
{
    public int Run = 1;
    public bool Merge = true;
    public long Shared, Sharing, Zero;
    public long MemAvailable = 8L << 30;
    public TimeSpan UnmergeTakes = TimeSpan.FromMilliseconds(100);
    /// <summary>EBUSY answers to merge_across_nodes writes even with nothing shared (stable nodes being
    /// migrated).</summary>
    public int LingeringStableNodes;
    /// <summary>Called before every effect with its name ("write run=1", "unmerge"); throw to fail or "crash"
    /// there.</summary>
    public Action<string>? Before;
    /// <summary>Called on every MemAvailable reading, which a decision makes after reading the registry (to interleave
    /// reconciles).</summary>
    public Action? ReadingMemAvailable;
    public readonly List<string> Log = [];
    /// <summary>Every run value the host went through, to prove run=2 never outlives a reconcile.</summary>
    public readonly List<int> RunHistory = [];

    public string Root => "simulated";
    public long PageSize => 4096;

    public SimulatedKsm Shares(long shared, long sharing, long zero = 0)
    {
        (Shared, Sharing, Zero) = (shared, sharing, zero);
        return this;
    }

    public KsmState Read(IReadOnlyCollection<string>? only = null) => KsmState.Of(
        ("run", $"{Run}"), ("merge_across_nodes", Merge ? "1" : "0"), ("pages_shared", $"{Shared}"),
        ("pages_sharing", $"{Sharing}"), ("ksm_zero_pages", $"{Zero}"), ("pages_to_scan", "100"));

    public long MemAvailableBytes()
    {
        ReadingMemAvailable?.Invoke(); // after the registry was read: the last moment before an unmerge decision
        return MemAvailable;
    }

    public void Write(string file, string value)
    {
        var text = (KsmFiles.Find(file) ?? throw new KsmException($"{file}: unknown")).Validate(value);
        var effect = $"write {file}={text}";
        Before?.Invoke(effect);
        switch (file)
        {
            case KsmFiles.MergeAcrossNodes:
                var want = text == "1";
                if (want != Merge && (Shared > 0 || LingeringStableNodes > 0))
                {
                    if (Shared == 0) LingeringStableNodes--;
                    Log.Add(effect + " EBUSY");
                    throw new KsmWriteException($"{Root}/{file}", text, 16);
                }
                Merge = want;
                break;
            case KsmFiles.Run:
                var run = int.Parse(text);
                if (run == 2 && Run != 2) UnmergeAll();
                SetRun(run);
                break;
        }
        Log.Add(effect);
    }

    public UnmergeResult Unmerge(TimeSpan budget, HostLock held)
    {
        Before?.Invoke("unmerge");
        Log.Add("unmerge");
        if (Run == 2) return new(UnmergeStatus.Completed, TimeSpan.Zero); // the kernel: no change of run, no unmerge
        if (UnmergeTakes > budget)
        {
            (Shared, Sharing, Zero) = (Shared / 2, Sharing / 2, Zero / 2); // part of it was done
            SetRun(0);
            return new(UnmergeStatus.TimedOut, budget, "interrupted");
        }
        if ((Sharing + Zero) * PageSize > MemAvailable)
        {
            SetRun(0);
            return new(UnmergeStatus.Failed, UnmergeTakes, "Cannot allocate memory");
        }
        UnmergeAll();
        SetRun(2);
        return new(UnmergeStatus.Completed, UnmergeTakes);
    }

    private void UnmergeAll()
    {
        MemAvailable -= (Sharing + Zero) * PageSize;
        (Shared, Sharing, Zero) = (0, 0, 0);
    }

    private void SetRun(int run)
    {
        Run = run;
        RunHistory.Add(run);
    }
}

/// <summary>A stand-in for process death at a chosen step: not a KsmException, so the runner cannot clean up after
/// it.</summary>
public sealed class SimulatedCrash(string step) : Exception($"crashed before {step}");

/// <summary>Liveness answers for tests of stale requests.</summary>
public sealed class FixedLiveness(Dictionary<VmId, VmPresence> answers) : IVmLiveness
{
    public List<VmId> Asked { get; } = [];

    public IReadOnlyDictionary<VmId, VmPresence> Lookup(IReadOnlyCollection<VmId> vms)
    {
        Asked.AddRange(vms);
        return vms.ToDictionary(v => v, v => answers.GetValueOrDefault(v, VmPresence.Unknown));
    }
}
