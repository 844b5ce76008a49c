using Largeguest.Config;

namespace Largeguest.Ksm.Tuning;

/// <summary>
/// The tuner's access to KSM through the library the hook uses: <see cref="IKsmKernel"/> for validated reads
/// and errno-precise writes, <see cref="HostLock"/> for the host-wide lock, the reconciler's memory rule and bounded
/// child-writer unmerge for prune, <see cref="KsmReconciler"/> for merge_across_nodes.
/// </summary>
public sealed class LibraryTunerHost(LargeguestConfig config, IKsmKernel? kernel = null, IVmLiveness? liveness = null)
    : ITunerHost
{
    private readonly IKsmKernel _kernel = kernel ?? new KsmSysfs();
    private readonly KsmPolicy _policy = KsmPolicy.From(config);
    private readonly KsmStateDirectory _stateDir = new(config.KsmStateDir);

    public IReadOnlyDictionary<string, string> ReadKsm() => _kernel.Read().Values;

    public void WriteKsm(string file, string value) => _kernel.Write(file, value);

    /// <summary>
    /// The tuner runs as root: the state directory passes its owner and mode check before each use (docs/ksm.md, "State
    /// directory").
    /// </summary>
    public IDisposable Lock()
    {
        _stateDir.CheckTrusted();
        return _stateDir.Lock(_policy.LockTimeout);
    }

    public string Prune(IDisposable held)
    {
        var hostLock = held as HostLock ?? throw new ArgumentException("the lock taken by Lock()", nameof(held));
        // A transition of the reconciler that died left a journal: let the reconciler finish or roll it back first.
        if (File.Exists(_stateDir.JournalPath))
            throw new KsmException($"a KSM transition died part-way ({_stateDir.JournalPath}): " +
                "run 'largeguest ksm status', then reconcile before pruning");
        var state = _kernel.Read();
        var available = state.UnmergeCostPages > 0 ? _kernel.MemAvailableBytes() : 0;
        var (costPages, costBytes, allowed) = KsmPlanner.Budget(state, _kernel.PageSize, available, _policy);
        if (costPages > 0 && costBytes > allowed)
            throw new KsmException($"prune refused: unmerging {costPages} pages needs {costBytes >> 20} MiB " +
                $"but only {allowed >> 20} MiB may be used " +
                $"(MemAvailable {available >> 20} MiB less Ksm:MemoryReservePercent " +
                $"{_policy.MemoryReservePercent}%); ksmd left as it was");
        var timeLimit = _policy.UnmergeTimeLimitFor(costBytes);
        var result = _kernel.StartUnmerge(state, timeLimit.Limit, hostLock);
        if (!result.LeavesRunAlone) _kernel.WriteRun(KsmRun.Stop);
        if (result.Failure($"{costPages} pages", timeLimit) is { } why)
            throw new KsmException($"prune: {why}" + result.Status switch
            {
                UnmergeStatus.Stuck => "",
                UnmergeStatus.TimedOut => "; ksmd stopped, some pages stay shared",
                _ => "; ksmd stopped",
            });
        return $"unmerged {costPages} pages ({costBytes >> 20} MiB) in {ChildWriter.Seconds(result.Elapsed)}; " +
            "ksmd stopped";
    }

    public IReadOnlyList<string> RecoverDiedTransition()
    {
        if (!File.Exists(_stateDir.JournalPath)) return [];
        var outcome = new KsmReconciler(_kernel, config.KsmStateDir, _policy, liveness ?? KsmService.Liveness(config))
            .Reconcile();
        return [.. outcome.Warnings, .. outcome.Notes];
    }

    public IReadOnlyList<string> ReconcileMergeAcrossNodes(bool value)
    {
        var policy = _policy with { DefaultMergeAcrossNodes = value };
        var outcome = new KsmReconciler(_kernel, config.KsmStateDir, policy, liveness ?? KsmService.Liveness(config))
            .Reconcile();
        return [.. outcome.Warnings, .. outcome.Notes];
    }
}
