namespace Largeguest.Ksm;

/// <summary>What a reconcile did; <see cref="Notes"/> and <see cref="Warnings"/> are one-line messages for
/// stderr.</summary>
public sealed record KsmOutcome(
    bool Changed, bool? Desired, IReadOnlyList<string> Notes, IReadOnlyList<string> Warnings);

/// <summary>
/// The effectful runner of <see cref="KsmPlanner"/>: reads the host, asks for the next step, does it, and asks
/// again until nothing is left to do. Every step that changes the host runs under the host-wide
/// <see cref="HostLock"/> on a state read under that lock. Failures throw <see cref="KsmException"/> only after
/// <c>run</c> has been restored and the journal removed (or, if even that is impossible, with the journal kept
/// so the next reconcile recovers).
/// </summary>
public sealed class KsmReconciler
{
    private const int MaxSteps = 4;
    private static readonly TimeSpan BusyRetry = TimeSpan.FromMilliseconds(20);
    private const int BusyAttempts = 10;

    private readonly IKsmKernel _kernel;
    private readonly KsmStateDirectory _stateDir;
    private readonly KsmPolicy _policy;
    private readonly IVmLiveness _liveness;
    private readonly TimeProvider _time;
    private readonly KsmRequests _requests;
    private readonly KsmJournalFile _journal;
    private readonly List<string> _notes = [];
    private readonly List<string> _warnings = [];
    private readonly Dictionary<VmId, VmPresence> _presence = [];

    public KsmReconciler(
        IKsmKernel kernel, string stateDir, KsmPolicy policy, IVmLiveness liveness, TimeProvider? time = null)
    {
        _kernel = kernel;
        _stateDir = new KsmStateDirectory(stateDir);
        _policy = policy;
        _liveness = liveness;
        _time = time ?? TimeProvider.System;
        _requests = new KsmRequests(_stateDir, policy.MaxRequests);
        _journal = _stateDir.Journal;
    }

    public KsmStateDirectory StateDirectory => _stateDir;

    /// <summary>The warnings of the observations since the last <see cref="Reconcile"/> began (bad request files), each
    /// once.</summary>
    public IReadOnlyList<string> Warnings => _warnings;

    /// <summary>
    /// Reads everything the decision needs (no lock taken here). <paramref name="everything"/> (<c>ksm status</c>):
    /// every KSM file, libvirt's word on every request past the grace period, and MemAvailable whenever KSM is there.
    /// </summary>
    public KsmObservation Observe(bool directWriteRefused = false, bool everything = false)
    {
        var now = _time.GetUtcNow();
        var state = everything ? _kernel.Read() : _kernel.Read(KsmPlanner.Inputs);
        // read several times per reconcile, said once
        var requests = _requests.List(w => { if (!_warnings.Contains(w)) _warnings.Add(w); });
        var needed = everything
            ? KsmPlanner.PastGrace(requests, now, _policy)
            : KsmPlanner.LivenessNeeded(requests, now, _policy);
        var missing = needed.Where(v => !_presence.ContainsKey(v)).ToList();
        if (missing.Count > 0)
            foreach (var (vm, presence) in _liveness.Lookup(missing))
                _presence[vm] = presence; // asked once per reconcile
        var liveness = needed.ToDictionary(v => v, v => _presence.GetValueOrDefault(v, VmPresence.Unknown));
        var memory = (everything ? state.Present : KsmPlanner.NeedsMemory(state, directWriteRefused))
            ? _kernel.MemAvailableBytes()
            : 0;
        return new KsmObservation(
            state, requests, liveness, _journal.Read(), memory, _kernel.PageSize, now, directWriteRefused);
    }

    /// <summary>The desired value from a fresh reading and the host's current <c>merge_across_nodes</c> (what MoM is
    /// told; docs/ksm.md, "MoM").</summary>
    public (KsmDesire Desire, bool? Current) Settled()
    {
        var o = Observe();
        return (KsmPlanner.Desire(o.Requests, o.Liveness, o.Now, _policy), o.State.MergeAcrossNodes);
    }

    public KsmOutcome Reconcile()
    {
        _notes.Clear();
        _warnings.Clear();
        _presence.Clear();
        // Lock-free look first, but only when the lock is free after the caller registered: a holder may have read
        // the registry before that registration and be about to write the other value, so while the lock is held
        // the host's value now says nothing. Free at this moment, every later holder reads our registration and
        // every earlier one's writes are visible to the look (a journal left over is never Nothing: the planner
        // recovers it first). docs/ksm.md, "Lock and journal".
        if (_stateDir.LockFree)
        {
            var quick = KsmPlanner.Decide(Observe(), _policy);
            if (quick.Step is KsmStep.Nothing) return Outcome(false, quick.Desire.Value);
        }

        using var held = _stateDir.Lock(_policy.LockTimeout);
        var refused = false;
        var pruned = false;
        var changed = false;
        for (var step = 0; step < MaxSteps; step++)
        {
            var observed = Observe(refused);
            var plan = KsmPlanner.Decide(observed, _policy);
            if (!pruned) { Prune(plan.Desire.Stale); pruned = true; }
            switch (plan.Step)
            {
                case KsmStep.Nothing:
                    return Outcome(changed, plan.Desire.Value);
                case KsmStep.Refuse refuse:
                    throw new KsmException(refuse.Why);
                case KsmStep.Write write:
                    try
                    {
                        _kernel.WriteMergeAcrossNodes(write.Value);
                        _notes.Add($"ksm: merge_across_nodes {KsmFiles.Bit(write.From)} -> " +
                            $"{KsmFiles.Bit(write.Value)} ({plan.Desire.Source}; nothing was shared)");
                        return Outcome(true, plan.Desire.Value);
                    }
                    catch (KsmWriteException e) when (e.Busy)
                    {
                        refused = true; // pages got shared meanwhile (or stable nodes linger): unmerge path
                    }
                    break;
                case KsmStep.Unmerge unmerge:
                    Transition(unmerge, observed.State, plan.Desire, held);
                    return Outcome(true, plan.Desire.Value);
                case KsmStep.Recover recover:
                    Recover(recover);
                    changed = true;
                    break;
            }
        }
        throw new KsmException($"the KSM state did not settle after {MaxSteps} steps; see 'largeguest ksm status'");
    }

    private void Transition(KsmStep.Unmerge u, KsmState state, KsmDesire desire, HostLock held)
    {
        var what = $"merge_across_nodes {KsmFiles.Bit(u.From)} -> {KsmFiles.Bit(u.Value)} ({desire.Source})";
        var pages = $"{u.CostPages} pages ({u.CostBytes / (1024 * 1024)} MiB)";
        var restored = KsmFiles.Text(u.PreviousRun);
        _journal.Write(u.PreviousRun, u.Value, _time.GetUtcNow());
        KsmException? failure = null;
        var abandon = false;
        UnmergeResult? result = null;
        var timeLimit = _policy.UnmergeTimeLimitFor(u.CostBytes);
        try
        {
            result = _kernel.StartUnmerge(state, timeLimit.Limit, held);
            if (result.Failure(pages, timeLimit) is { } why)
            {
                abandon = result.LeavesRunAlone; // the next reconcile recovers
                throw new KsmException(abandon
                    ? $"{what} not done: {why}; the journal {_journal.Path} is kept for recovery"
                    : $"{what} not done: {why}; merge_across_nodes left at {KsmFiles.Bit(u.From)}, " +
                        $"run restored to {restored}");
            }
            WriteBusyTolerant(KsmFiles.MergeAcrossNodes, KsmFiles.Bit(u.Value));
        }
        catch (KsmException e) { failure = e; }

        if (!abandon)
        {
            try
            {
                _kernel.WriteRun(u.PreviousRun);
                _journal.Delete();
            }
            catch (KsmException e)
            {
                throw new KsmException($"{what}: {(failure is null ? "" : failure.Message + "; ")}" +
                    $"restoring run={restored} failed: {e.Message}; " +
                    $"the journal {_journal.Path} is kept so the next reconcile recovers");
            }
        }
        if (failure is not null) throw failure;
        _notes.Add(
            $"ksm: {what}: unmerged {pages} in {ChildWriter.Seconds(result!.Elapsed)}, run restored to {restored}");
    }

    private void Recover(KsmStep.Recover r)
    {
        var finished = "";
        if (r.WriteValue is bool v)
        {
            try
            {
                _kernel.WriteMergeAcrossNodes(v);
                finished = $"merge_across_nodes set to {KsmFiles.Bit(v)}, ";
            }
            catch (KsmWriteException e) when (e.Busy) { } // rolled back instead; the next decision starts afresh
        }
        _kernel.WriteRun(r.RestoreRun);
        _journal.Delete();
        _warnings.Add($"ksm: {r.Why}: recovered: {finished}run restored to {KsmFiles.Text(r.RestoreRun)}");
    }

    /// <summary>After an unmerge a stable node can linger for a moment (page migration); EBUSY then is worth a short
    /// retry.</summary>
    private void WriteBusyTolerant(string file, string value)
    {
        for (var attempt = 1; ; attempt++)
        {
            try { _kernel.Write(file, value); return; }
            catch (KsmWriteException e) when (e.Busy && attempt < BusyAttempts) { Thread.Sleep(BusyRetry); }
        }
    }

    private void Prune(IReadOnlyList<KsmRequest> stale)
    {
        foreach (var r in stale)
            if (_requests.ReleaseIf(r)) // re-read under the lock: a VM registering again right now keeps its request
                _notes.Add($"ksm: dropped the stale request of VM {r.Vm} " +
                    $"(libvirt has no such domain; registered {r.Registered:u})");
    }

    private KsmOutcome Outcome(bool changed, bool? desired) => new(changed, desired, [.. _notes], [.. _warnings]);
}
