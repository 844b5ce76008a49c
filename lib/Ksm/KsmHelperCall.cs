using System.Diagnostics;
using Largeguest.IO;

namespace Largeguest.Ksm;

/// <summary>
/// The argument vector of the privileged KSM entry, the contract between the hook (user vdsm), sudo
/// (packaging/50_vdsm_hook_largeguest.sudoers) and the binary run as root. Exactly two forms exist:
/// <c>ksm reconcile --vm UUID --merge-across-nodes 0|1</c> and <c>ksm release --vm UUID</c>.
/// Built and checked here only, so the three parties cannot drift apart.
/// </summary>
public sealed record KsmHelperCall(VmId Vm, bool? MergeAcrossNodes)
{
    public const string Group = "ksm";
    public const string ReconcileVerb = "reconcile";
    public const string ReleaseVerb = "release";
    public const string VmOption = "--vm";
    public const string ValueOption = "--merge-across-nodes";

    public const string Forms = "'ksm reconcile --vm UUID --merge-across-nodes 0|1' or 'ksm release --vm UUID'";

    public bool IsRelease => MergeAcrossNodes is null;

    public IReadOnlyList<string> Arguments => MergeAcrossNodes is bool v
        ? [Group, ReconcileVerb, VmOption, Vm.Value, ValueOption, KsmFiles.Bit(v)]
        : [Group, ReleaseVerb, VmOption, Vm.Value];

    /// <summary>
    /// Accepts exactly one of the two forms, token by token (no reordering, no <c>--opt=value</c>, no extra
    /// or empty tokens, UUID syntax, 0 or 1). <paramref name="args"/> excludes the program name.
    /// </summary>
    public static KsmHelperCall Parse(IReadOnlyList<string> args)
    {
        if (args.Count == 6 && args[0] == Group && args[1] == ReconcileVerb && args[2] == VmOption
            && args[4] == ValueOption
            && VmId.TryParse(args[3], out var vm) && KsmFiles.ParseBit(args[5]) is bool value)
            return new KsmHelperCall(vm, value);
        if (args.Count == 4 && args[0] == Group && args[1] == ReleaseVerb && args[2] == VmOption
            && VmId.TryParse(args[3], out var released))
            return new KsmHelperCall(released, null);
        throw new KsmException(
            $"privileged ksm entry: refused arguments '{string.Join(' ', args)}' (expected exactly {Forms})");
    }
}

/// <summary>Runs the privileged entry through <c>sudo -n</c> as the hook does when it is not root.</summary>
public static class KsmHelperClient
{
    public const string Sudo = "/usr/bin/sudo";
    public const string SudoersDropIn = "/etc/sudoers.d/50_vdsm_hook_largeguest";

    /// <summary>The binary sudo runs: this process's own executable (the RPM symlinks the hook to it).</summary>
    public static string Self =>
        Environment.ProcessPath ?? throw new KsmException("cannot tell this program's own path for sudo");

    /// <summary>
    /// Runs the call; returns the helper's notes and warnings, throws its error (or sudo's) as
    /// <see cref="KsmException"/>
    /// whose <see cref="KsmException.Earlier"/> holds the notes and warnings the helper printed before it.
    /// </summary>
    public static IReadOnlyList<string> Run(KsmHelperCall call, string? self = null, string sudo = Sudo)
    {
        var program = self ?? Self;
        var start = new ProcessStartInfo(sudo)
        {
            UseShellExecute = false,
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
        };
        start.ArgumentList.Add("-n");
        start.ArgumentList.Add(program);
        foreach (var a in call.Arguments) start.ArgumentList.Add(a);
        Process process;
        try { process = Process.Start(start) ?? throw new KsmException($"cannot start {sudo}"); }
        catch (System.ComponentModel.Win32Exception e) { throw new KsmException($"cannot run {sudo}: {e.Message}"); }
        using (process)
        {
            process.StandardInput.Close(); // -n already forbids prompting; no terminal either
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEnd();
            process.WaitForExit();
            _ = stdout.Result;
            var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var parsed = lines.Select(l => (Line: l, Ours: Diagnostics.Parse(l))).ToList();
            var error = parsed.FirstOrDefault(p => p.Ours?.Severity == Diagnostics.Severity.Error);
            var relayed = parsed.Where(p => p.Ours is not null && p.Line != error.Line).Select(p => p.Line).ToList();
            if (process.ExitCode == 0) return relayed;
            var command = $"{sudo} -n {program} {string.Join(' ', call.Arguments)}";
            var earlier = relayed.Select(KsmService.Classify).ToList();
            if (error.Ours is { } failed) throw new KsmException(failed.Text) { Earlier = earlier };
            var said = string.Join(" / ", parsed.Where(p => p.Ours is null).Select(p => p.Line));
            throw new KsmException(
                $"the privileged helper did not run ('{command}' exited {process.ExitCode}" +
                $"{(said.Length > 0 ? ": " + said : "")}); " +
                $"is {SudoersDropIn} installed and naming {program}?") { Earlier = earlier };
        }
    }
}
