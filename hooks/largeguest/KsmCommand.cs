using System.CommandLine;
using Largeguest.Config;
using Largeguest.Ksm;
using Largeguest.Ksm.Tuning;

namespace Largeguest.Hook.Cli;

/// <summary>
/// <c>largeguest ksm status [--json]</c> for administrators, and the privileged entries the hook runs through
/// <c>sudo -n</c>: <c>ksm reconcile --vm UUID --merge-across-nodes 0|1</c> and <c>ksm release --vm UUID</c>.
/// The privileged entries accept exactly those argument vectors, ignore LARGEGUEST__* and LARGEGUEST_CONFIG,
/// read only /etc/vdsm-hook-largeguest/largeguest.json (and its largeguest.d) and touch only /sys/kernel/mm/ksm and
/// Ksm:StateDir.
/// </summary>
internal static class KsmCommand
{
    public static Command Create()
    {
        var command = new Command(KsmHelperCall.Group, "NUMA-aware KSM: show the host's state; the privileged " +
            "entries the hook runs through sudo.");
        command.Subcommands.Add(Status());
        command.Subcommands.Add(Privileged(KsmHelperCall.ReconcileVerb, "Register a VM's merge_across_nodes request " +
            "and reconcile the host (root; run by the hook through sudo).", withValue: true));
        command.Subcommands.Add(Privileged(KsmHelperCall.ReleaseVerb, "Release a VM's request (root; run by the hook " +
            "through sudo at after_vm_destroy).", withValue: false));
        KsmTuneCommand.AddTo(command); // the tuning service: tune, run, stop, prune, retune, metrics
        return command;
    }

    private static Command Privileged(string verb, string description, bool withValue)
    {
        var command = new Command(verb, description);
        command.Options.Add(new Option<string>(KsmHelperCall.VmOption)
            { Description = "The VM's UUID (vmId)", Required = true });
        if (withValue)
            command.Options.Add(new Option<string>(KsmHelperCall.ValueOption)
                { Description = "0 or 1", Required = true });
        command.SetAction(_ => RunPrivileged());
        return command;
    }

    private static int RunPrivileged() => CliSupport.Guard(() =>
    {
        // The whole vector as the kernel handed it to us, checked token by token: not what a parser tolerates.
        var call = KsmHelperCall.Parse(Environment.GetCommandLineArgs().Skip(1).ToList());
        if (!Environment.IsPrivilegedProcess)
            throw new KsmException($"'largeguest {string.Join(' ', call.Arguments)}' must run as root (the hook runs " +
                "it through sudo -n)");
        var config = LargeguestConfig.Load(new Dictionary<string, string>(), privileged: true, CliSupport.Diag.Warn);
        try { Print(KsmService.RunAsRoot(call, config)); }
        catch (KsmException e) { Print(e.Earlier); throw; } // what was done before the failure, then its error line
        return Commands.Success;
    });

    private static void Print(IReadOnlyList<(bool Warning, string Text)> lines)
    {
        foreach (var (warning, text) in lines)
            if (warning) CliSupport.Diag.Warn(text); else CliSupport.Diag.Note(text);
    }

    private static Command Status()
    {
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of text" };
        var command = new Command("status", "Show the KSM counters, run, merge_across_nodes, the registered requests " +
            "and the desired value.");
        command.Options.Add(json);
        command.SetAction(result => CliSupport.Guard(() =>
        {
            var config = CliSupport.LoadConfig();
            var report = TunerStatus.With(
                KsmStatus.Read(config, new KsmSysfs(), KsmService.Liveness(config),
                    TimeProvider.System.GetUtcNow(), CliSupport.Diag.Warn),
                config.KsmStateDir, CliSupport.Diag.Warn);
            Console.Out.Write(result.GetValue(json) ? report.ToJson() : report.ToText());
            return Commands.Success;
        }));
        return command;
    }
}
