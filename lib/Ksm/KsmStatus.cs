using System.Globalization;
using System.Text;
using System.Text.Json;
using Largeguest.Config;
using Largeguest.IO;
using Largeguest.Ksm.Mom;

namespace Largeguest.Ksm;

/// <summary>
/// A part of <c>largeguest ksm status</c> that another part of the product contributes (the tuning service's state,
/// its swap check), so that this namespace does not depend on it: lines for the text, one value for the JSON.
/// </summary>
public interface IKsmStatusSection
{
    IEnumerable<string> Lines { get; }

    /// <summary>Writes the section's JSON value (its name is the property it is set in).</summary>
    void WriteJson(Utf8JsonWriter w);
}

/// <summary>What <c>largeguest ksm status</c> shows: the kernel's KSM files, the registry and the decision it
/// implies.</summary>
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
    /// <summary>The tuning service's part (its recorded state and daemon); null when a status is built without
    /// it.</summary>
    public IKsmStatusSection? Tuner { get; init; }

    /// <summary>MoM on this host (docs/ksm.md, "MoM"); null only when a status is built without reading it.</summary>
    public MomStatus? Mom { get; init; }

    /// <summary>Whether swap + free memory covers unsharing every merged page now (docs/ksmtune.md "Swap"); null
    /// without KSM or without the tuning part.</summary>
    public IKsmStatusSection? Swap { get; init; }

    /// <summary>The reconciler's own observation (<see cref="KsmReconciler.Observe"/>, everything) and decision, read
    /// at <paramref name="now"/>.</summary>
    public static KsmStatus Read(
        LargeguestConfig config, IKsmKernel kernel, IVmLiveness liveness, DateTimeOffset now,
        Action<string>? warn = null)
    {
        var policy = KsmPolicy.From(config);
        var reconciler = new KsmReconciler(kernel, config.KsmStateDir, policy, liveness, new FixedTime(now));
        var o = reconciler.Observe(everything: true);
        foreach (var w in reconciler.Warnings) warn?.Invoke(w);
        var plan = KsmPlanner.Decide(o, policy);
        var dir = reconciler.StateDirectory;
        return new KsmStatus(kernel.Root, o.State, dir.RequestsPath, o.Requests, o.Liveness, plan.Desire, plan.Step,
            o.Journal, dir.JournalPath,
            dir.LockFree, o.MemAvailableBytes, o.PageSize, now, policy.StaleGrace)
        {
            Mom = MomStatus.Read(config.MomConfigPath),
        };
    }

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
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
        KsmStep.Unmerge u => $"unmerge {u.CostPages} pages " +
            $"({u.CostBytes / 1048576} MiB of {u.AllowedBytes / 1048576} MiB allowed), " +
            $"then write merge_across_nodes={KsmFiles.Bit(u.Value)}",
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
                    b.Append(CultureInfo.InvariantCulture,
                        $"  {file.Name,-36} {value}" +
                        $"{(file.Name == KsmFiles.Run ? $" ({RunMeaning(State.Run)})" : "")}\n");
            foreach (var name in State.Unknown)
                b.Append(CultureInfo.InvariantCulture,
                    $"  {name,-36} {State.Values[name]} (not known to largeguest)\n");
            b.Append(CultureInfo.InvariantCulture,
                $"unmerging now would allocate {State.UnmergeCostPages} pages " +
                $"({State.UnmergeCostPages * PageSize / 1048576} MiB); " +
                $"MemAvailable {MemAvailableBytes / 1048576} MiB\n");
            foreach (var line in Swap?.Lines ?? []) b.Append(line).Append('\n');
        }
        b.Append(CultureInfo.InvariantCulture, $"requests in {RequestDirectory}: {Requests.Count}\n");
        foreach (var r in Requests)
        {
            var age = Now - r.Registered;
            var presence = Liveness.GetValueOrDefault(r.Vm, VmPresence.Unknown);
            var tag = IsStale(r) ? " STALE (libvirt has no such domain; ignored)"
                : presence == VmPresence.Present ? " (running)"
                : "";
            b.Append(CultureInfo.InvariantCulture,
                $"  {r.Vm}  merge_across_nodes={KsmFiles.Bit(r.MergeAcrossNodes)}  " +
                $"registered {r.Registered.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z ({(long)age.TotalSeconds} s ago){tag}\n");
        }
        b.Append(CultureInfo.InvariantCulture,
            $"desired merge_across_nodes: {(Desire.Value is bool d ? KsmFiles.Bit(d) : "none")} ({Desire.Source})\n");
        b.Append(CultureInfo.InvariantCulture, $"next reconcile: {NextText}\n");
        b.Append(Journal is null
            ? "journal: none\n"
            : $"journal: {JournalPath} PRESENT ({(LockFree
                ? "lock free: a transition died; the next reconcile recovers"
                : "lock held: a transition is in progress")})\n");
        foreach (var line in Tuner?.Lines ?? []) b.Append(line).Append('\n');
        foreach (var line in Mom?.Lines() ?? []) b.Append(line).Append('\n');
        return b.ToString();
    }

    public string ToJson() => JsonText.Text(w =>
        {
            w.WriteStartObject();
            w.WriteString("sysfs", Root);
            w.WriteBoolean("present", State.Present);
            w.WriteNumberOrNull(KsmFiles.Run, (int?)State.Run);
            WriteBitOrNull(w, KsmFiles.MergeAcrossNodes, State.MergeAcrossNodes);
            w.WriteStartObject("files");
            foreach (var (name, value) in State.Values.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                if (KsmFiles.Find(name) is { Kind: not KsmFileKind.Choice } && State.Number(name) is long n)
                    w.WriteNumber(name, n);
                else w.WriteString(name, value);
            }
            w.WriteEndObject();
            w.WriteStartArray("unknown_files");
            foreach (var name in State.Unknown) w.WriteStringValue(name);
            w.WriteEndArray();
            w.WriteNumber("unmerge_cost_pages", State.UnmergeCostPages);
            w.WriteNumber("unmerge_cost_bytes", State.UnmergeCostPages * PageSize);
            w.WriteNumber("mem_available_bytes", MemAvailableBytes);
            if (Swap is not null)
            {
                w.WritePropertyName("swap");
                Swap.WriteJson(w);
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
                w.WriteString("libvirt",
                    Liveness.GetValueOrDefault(r.Vm, VmPresence.Unknown).ToString().ToLowerInvariant());
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
                w.WriteNumberOrNull("previous_run", (int?)Journal.PreviousRun);
                w.WriteBoolean("lock_free", LockFree);
                w.WriteEndObject();
            }
            if (Tuner is not null)
            {
                w.WritePropertyName("tuner");
                Tuner.WriteJson(w);
            }
            if (Mom is not null)
            {
                w.WritePropertyName("mom");
                Mom.WriteJson(w);
            }
            w.WriteEndObject();
        });

    /// <summary>A switch as the kernel's number 0 or 1 (not JSON's true/false: the file holds a number).</summary>
    private static void WriteBitOrNull(Utf8JsonWriter w, string name, bool? value) =>
        w.WriteNumberOrNull(name, value is bool b ? (b ? 1 : 0) : null);
}
