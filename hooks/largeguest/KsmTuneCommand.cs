using System.CommandLine;
using Largeguest.Config;
using Largeguest.Ksm;
using Largeguest.Ksm.Mom;
using Largeguest.Ksm.Tuning;

namespace Largeguest.Hook.Cli;

/// <summary>
/// The KSM tuning service's subcommands of the <c>ksm</c> group: <c>tune --daemon|--once</c>, <c>run</c>,
/// <c>stop</c>, <c>prune</c>, <c>retune</c>, <c>metrics</c>. They write /sys/kernel/mm/ksm and so need root; they
/// are not reachable through the hook's sudoers rule (which allows only <c>ksm reconcile|release</c>).
/// </summary>
internal static class KsmTuneCommand
{
    /// <summary>Adds the tuner's subcommands to the <c>ksm</c> command group.</summary>
    public static void AddTo(Command ksm)
    {
        ksm.Subcommands.Add(Tune());
        ksm.Subcommands.Add(Simple("run", "Start ksmd now and hand it (back) to the tuner.", t => t.StartKsmd()));
        ksm.Subcommands.Add(Simple("stop", "Stop ksmd, keeping shared pages shared; the tuner pauses until 'ksm run'.",
            t => t.StopKsmd()));
        ksm.Subcommands.Add(Simple("prune", "Stop ksmd and unmerge every page (if the memory it needs is there); the " +
            "tuner pauses until 'ksm run'.", t => t.Prune()));
        ksm.Subcommands.Add(Retune());
        ksm.Subcommands.Add(Metrics());
    }

    private static Command Tune()
    {
        var daemon = new Option<bool>("--daemon") { Description = "Run as the service: a cycle every interval, at " +
            "once on SIGHUP ('ksm retune'); metrics endpoint" };
        var once = new Option<bool>("--once") { Description = "One cycle, print the decision, exit" };
        var mode = new Option<string>("--mode") { Description = "Parameter set: standard, high or customized" };
        var thresCoef = new Option<string>("--thres-coef") { Description = "Percent of RAM: free memory below it " +
            "starts ksmd (KSM_THRES_COEF)" };
        var boost = new Option<string>("--boost") { Description = "Customized: pages_to_scan added per cycle under " +
            "pressure" };
        var decay = new Option<string>("--decay") { Description = "Customized: pages_to_scan taken away per cycle " +
            "without pressure" };
        var minPages = new Option<string>("--min-pages") { Description = "Customized: lowest pages_to_scan" };
        var maxPages = new Option<string>("--max-pages") { Description = "Customized: highest pages_to_scan" };
        var sleepMsec = new Option<string>("--sleep-msec") { Description = "Customized: ksmd sleep on a 16 GiB host " +
            "(scaled by RAM, at least 10)" };
        var interval = new Option<string>("--interval")
            { Description = "Seconds between cycles (KSM_MONITOR_INTERVAL)" };
        var listen = new Option<string>("--listen")
            { Description = "ADDRESS:PORT of the metrics endpoint (empty: none)" };
        var textfile = new Option<string>("--textfile") { Description = "node_exporter textfile (.prom) rewritten " +
            "each cycle" };
        var merge = new Option<string>("--merge-across-nodes") { Description = "0 or 1: the host's " +
            "merge_across_nodes when no VM asked, applied through the KSM reconciler" };
        var command = new Command("tune", "ksmtuned's job: start/stop ksmd and set pages_to_scan/sleep_millisecs " +
            "from free and committed memory.")
        {
            daemon, once, mode, thresCoef, boost, decay, minPages, maxPages, sleepMsec,
                interval, listen, textfile, merge,
        };
        command.SetAction(r => CliSupport.Guard(() =>
        {
            var isDaemon = r.GetValue(daemon);
            if (isDaemon == r.GetValue(once)) throw new ConfigException("ksm tune: give exactly one of --daemon or " +
                "--once");
            var flags = new TuneFlags(r.GetValue(mode), r.GetValue(thresCoef), r.GetValue(boost), r.GetValue(decay),
                r.GetValue(minPages), r.GetValue(maxPages), r.GetValue(sleepMsec), r.GetValue(interval),
                r.GetValue(listen), r.GetValue(textfile));
            var mergeText = r.GetValue(merge);
            bool? mergeValue = mergeText is null ? null
                : KsmFiles.ParseBit(mergeText) ?? throw new ConfigException($"--merge-across-nodes: bad value " +
                    $"'{mergeText}' (expected: 0 or 1)");
            var (config, settings, host) = Setup(flags);
            if (MomConfig.TunerConflict(config.MomConfigPath) is { } conflict)
                throw new KsmTuneException($"ksm tune: not started: {conflict}");
            RequireRoot("ksm tune");
            var tuner = new KsmTuner(host, settings, config.KsmStateDir);
            if ((mergeValue ?? config.KsmDefaultMergeAcrossNodes) is bool m)
                foreach (var line in host.ReconcileMergeAcrossNodes(m)) CliSupport.Diag.Note($"ksm: {line}");
            if (!isDaemon)
            {
                var outcome = tuner.Cycle(force: true);
                foreach (var note in outcome.Notes) Console.WriteLine(note);
                return Commands.Success;
            }
            var d = new TunerDaemon(tuner, host, config.KsmStateDir,
                new DaemonLog(line => { Console.Error.WriteLine(line); Console.Error.Flush(); }));
            return d.Run(CancellationToken.None).GetAwaiter().GetResult();
        }));
        return command;
    }

    private static Command Simple(string name, string description, Func<KsmTuner, TunerOutcome> act)
    {
        var command = new Command(name, description);
        command.SetAction(_ => CliSupport.Guard(() =>
        {
            var (config, settings, host) = Setup(TuneFlags.None);
            RequireRoot($"ksm {name}");
            var outcome = act(new KsmTuner(host, settings, config.KsmStateDir));
            foreach (var note in outcome.Notes) Console.WriteLine(note);
            return Commands.Success;
        }));
        return command;
    }

    private static Command Retune()
    {
        var command = new Command("retune", "Make the tuning daemon adjust now (SIGHUP), as libvirt's guest " +
            "start/stop did for ksmtuned.");
        command.SetAction(_ => CliSupport.Guard(() =>
        {
            var config = CliSupport.LoadConfig();
            var pid = TunerDaemon.SignalRetune(config.KsmStateDir);
            Console.WriteLine($"signalled the tuning daemon (pid {pid}) to retune");
            return Commands.Success;
        }));
        return command;
    }

    private static Command Metrics()
    {
        var command = new Command("metrics", "Print the Prometheus text exposition: every KSM counter, the tuner's " +
            "state, ksmd's CPU use (sampled over KsmTune:CpuSampleMilliseconds).");
        command.SetAction(_ => CliSupport.Guard(() =>
        {
            var (config, settings, host) = Setup(TuneFlags.None);
            var cpu = KsmdCpu.Measure(settings.CpuSample);
            Console.Out.Write(KsmMetrics.Render(host.ReadKsm(),
                TunerState.Load(config.KsmStateDir, CliSupport.Diag.Warn), cpu?.Sample, cpu?.Percent));
            return Commands.Success;
        }));
        return command;
    }

    private static (LargeguestConfig, TunerSettings, ITunerHost) Setup(TuneFlags flags)
    {
        var config = CliSupport.LoadConfig();
        var confPath = config.KsmTune.KsmtunedConf.Trim();
        var conf = confPath.Length == 0 ? KsmtunedConf.Defaults : KsmtunedConf.Load(confPath, CliSupport.Diag.Warn);
        var source = LargeguestConfig.Describe(CliSupport.Environment(), privileged: false);
        var settings = TuneConfig.Resolve(config.KsmTune, source, conf, flags, CliSupport.Diag.Note);
        return (config, settings, new LibraryTunerHost(config));
    }

    private static void RequireRoot(string what)
    {
        if (!Environment.IsPrivilegedProcess) throw new KsmTuneException($"'largeguest {what}' writes " +
            "/sys/kernel/mm/ksm and must run as root");
    }
}
