using System.Globalization;
using System.Text;
using System.Text.Json;
using Largeguest.Config;
using Largeguest.Ksm.Mom;
using Largeguest.Ksm.Tuning;

namespace Largeguest.Ksm;

/// <summary>What <c>largeguest ksm status</c> shows: the kernel's KSM files, the registry and the decision it implies.</summary>
public sealed record KsmStatus(
    string Root,
    KsmState State,
    string RequestDirectory,
    IReadOnlyList<KsmRequest> Requests,
    IReadOnlyDictionary<VmId, VmPresence> Liveness,
    KsmDesire Desire,
    KsmStep Next,
    KsmJournal? Journal,
    string JournalPath,
    bool LockFree,
    long MemAvailableBytes,
    long PageSize,
    DateTimeOffset Now,
    TimeSpan StaleGrace)
{
    /// <summary>The tuning service's recorded state (null: it has not run since boot) and its daemon's pid.</summary>
    public TunerState? Tuner { get; init; }
    public int? TunerDaemonPid { get; init; }

    /// <summary>MoM on this host (docs/ksm.md, "MoM"); null only when a status is built without reading it.</summary>
    public MomStatus? Mom { get; init; }

    /// <summary>Whether swap + free memory covers unsharing every merged page now (docs/ksmtune.md "Swap"); null without KSM.</summary>
    public SwapCover? Swap { get; init; }

    public static KsmStatus Read(LargeguestConfig config, IKsmKernel kernel, IVmLiveness liveness, DateTimeOffset now, Action<string>? warn = null)
    {
        var policy = KsmPolicy.From(config);
        var state = kernel.Read();
        var dir = new KsmStateDirectory(config.KsmStateDir);
        var registry = new KsmRequests(dir);
        var requests = registry.List(warn);
        var old = requests.Where(r => now - r.Registered > policy.StaleGrace).Select(r => r.Vm).Distinct().ToList();
        var presence = old.Count > 0 ? liveness.Lookup(old) : new Dictionary<VmId, VmPresence>();
        var journalFile = dir.Journal;
        var journal = journalFile.Read();
        var memory = state.Present ? kernel.MemAvailableBytes() : 0;
        var plan = KsmPlanner.Decide(new KsmObservation(state, requests, presence, journal, memory, kernel.PageSize, now), policy);
        return new KsmStatus(kernel.Root, state, registry.Directory, requests, presence, plan.Desire, plan.Step, journal, journalFile.Path,
            dir.LockFree, memory, kernel.PageSize, now, policy.StaleGrace)
        {
            Tuner = TunerState.Load(config.KsmStateDir, warn),
            TunerDaemonPid = TunerDaemon.RunningDaemon(config.KsmStateDir),
            Mom = MomStatus.Read(config.MomConfigPath),
            Swap = state.Present ? SwapCover.Of(MemInfo.Read(), CommittedMemory.TotalKiB(), state.UnmergeCostPages, kernel.PageSize) : null,
        };
    }

    private static string RunMeaning(KsmRun? run) => run switch
    {
        KsmRun.Stop => "stopped",
        KsmRun.Merge => "ksmd merging",
        KsmRun.Unmerge => "unmerge mode (left by someone: largeguest restores run after its own unmerges)",
        _ => "unreadable",
    };

    private bool IsStale(KsmRequest r) => KsmPlanner.IsStale(r, Liveness, Now, StaleGrace);

    private string NextText => Next switch
    {
        KsmStep.Nothing n => $"nothing to do: {n.Why}",
        KsmStep.Write w => $"write merge_across_nodes={KsmFiles.Bit(w.Value)} directly (nothing is shared)",
        KsmStep.Unmerge u => $"unmerge {u.CostPages} pages ({u.CostBytes / 1048576} MiB of {u.AllowedBytes / 1048576} MiB allowed), then write merge_across_nodes={KsmFiles.Bit(u.Value)}",
        KsmStep.Refuse r => $"refuse: {r.Why}",
        KsmStep.Recover r => $"recover: {r.Why}",
        _ => Next.ToString(),
    };

    public string ToText()
    {
        var b = new StringBuilder();
        b.Append(CultureInfo.InvariantCulture, $"KSM {Root}");
        if (!State.Present) b.Append(": not present (this kernel has no KSM)\n");
        else
        {
            b.Append('\n');
            foreach (var file in KsmFiles.All)
                if (State.Values.TryGetValue(file.Name, out var value))
                    b.Append(CultureInfo.InvariantCulture, $"  {file.Name,-36} {value}{(file.Name == KsmFiles.Run ? $" ({RunMeaning(State.Run)})" : "")}\n");
            foreach (var name in State.Unknown)
                b.Append(CultureInfo.InvariantCulture, $"  {name,-36} {State.Values[name]} (not known to largeguest)\n");
            b.Append(CultureInfo.InvariantCulture,
                $"unmerging now would allocate {State.UnmergeCostPages} pages ({State.UnmergeCostPages * PageSize / 1048576} MiB); MemAvailable {MemAvailableBytes / 1048576} MiB\n");
            if (Swap is SwapCover swap) b.Append(CultureInfo.InvariantCulture, $"{swap.Text}\n");
        }
        b.Append(CultureInfo.InvariantCulture, $"requests in {RequestDirectory}: {Requests.Count}\n");
        foreach (var r in Requests)
        {
            var age = Now - r.Registered;
            var presence = Liveness.GetValueOrDefault(r.Vm, VmPresence.Unknown);
            var tag = IsStale(r) ? " STALE (libvirt has no such domain; ignored)" : presence == VmPresence.Present ? " (running)" : "";
            b.Append(CultureInfo.InvariantCulture,
                $"  {r.Vm}  merge_across_nodes={KsmFiles.Bit(r.MergeAcrossNodes)}  registered {r.Registered.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z ({(long)age.TotalSeconds} s ago){tag}\n");
        }
        b.Append(CultureInfo.InvariantCulture, $"desired merge_across_nodes: {(Desire.Value is bool d ? KsmFiles.Bit(d) : "none")} ({Desire.Source})\n");
        b.Append(CultureInfo.InvariantCulture, $"next reconcile: {NextText}\n");
        b.Append(Journal is null
            ? "journal: none\n"
            : $"journal: {JournalPath} PRESENT ({(LockFree ? "lock free: a transition died; the next reconcile recovers" : "lock held: a transition is in progress")})\n");
        foreach (var line in TunerState.StatusLines(Tuner, TunerDaemonPid)) b.Append(line).Append('\n');
        foreach (var line in Mom?.Lines() ?? []) b.Append(line).Append('\n');
        return b.ToString();
    }

    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("sysfs", Root);
            w.WriteBoolean("present", State.Present);
            WriteNumberOrNull(w, KsmFiles.Run, (int?)State.Run);
            WriteBitOrNull(w, KsmFiles.MergeAcrossNodes, State.MergeAcrossNodes);
            w.WriteStartObject("files");
            foreach (var (name, value) in State.Values.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                if (KsmFiles.Find(name) is { Kind: not KsmFileKind.Choice } && State.Number(name) is long n) w.WriteNumber(name, n);
                else w.WriteString(name, value);
            }
            w.WriteEndObject();
            w.WriteStartArray("unknown_files");
            foreach (var name in State.Unknown) w.WriteStringValue(name);
            w.WriteEndArray();
            w.WriteNumber("unmerge_cost_pages", State.UnmergeCostPages);
            w.WriteNumber("unmerge_cost_bytes", State.UnmergeCostPages * PageSize);
            w.WriteNumber("mem_available_bytes", MemAvailableBytes);
            if (Swap is SwapCover sc)
            {
                w.WriteStartObject("swap");
                w.WriteNumber("swap_free_bytes", sc.SwapFreeKiB * 1024);
                w.WriteNumber("free_bytes", sc.FreeKiB * 1024);
                w.WriteNumber("need_bytes", sc.NeedKiB * 1024);
                w.WriteNumber("overcommit_bytes", sc.OvercommitKiB * 1024);
                w.WriteBoolean("covered", sc.Covered);
                w.WriteEndObject();
            }
            w.WriteString("request_directory", RequestDirectory);
            w.WriteStartArray("requests");
            foreach (var r in Requests)
            {
                w.WriteStartObject();
                w.WriteString("vm", r.Vm.Value);
                WriteBitOrNull(w, KsmFiles.MergeAcrossNodes, r.MergeAcrossNodes);
                w.WriteString("registered", Timestamp.Text(r.Registered));
                w.WriteNumber("age_seconds", (long)(Now - r.Registered).TotalSeconds);
                w.WriteString("libvirt", Liveness.GetValueOrDefault(r.Vm, VmPresence.Unknown).ToString().ToLowerInvariant());
                w.WriteBoolean("stale", IsStale(r));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            WriteBitOrNull(w, "desired", Desire.Value);
            w.WriteString("desired_source", Desire.Source);
            w.WriteString("next", NextText);
            if (Journal is null) w.WriteNull("journal");
            else
            {
                w.WriteStartObject("journal");
                w.WriteString("path", JournalPath);
                WriteNumberOrNull(w, "previous_run", (int?)Journal.PreviousRun);
                w.WriteBoolean("lock_free", LockFree);
                w.WriteEndObject();
            }
            w.WritePropertyName("tuner");
            TunerState.WriteStatusJson(w, Tuner, TunerDaemonPid);
            if (Mom is not null)
            {
                w.WritePropertyName("mom");
                Mom.WriteJson(w);
            }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    private static void WriteNumberOrNull(Utf8JsonWriter w, string name, int? value)
    {
        if (value is int v) w.WriteNumber(name, v); else w.WriteNull(name);
    }

    /// <summary>A switch as the kernel's number 0 or 1 (not JSON's true/false: the file holds a number).</summary>
    private static void WriteBitOrNull(Utf8JsonWriter w, string name, bool? value) => WriteNumberOrNull(w, name, value is bool b ? (b ? 1 : 0) : null);
}
