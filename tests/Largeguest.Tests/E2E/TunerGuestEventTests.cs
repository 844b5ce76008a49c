using Largeguest.Tests.Support;
using System.Diagnostics;
using System.Globalization;
using Largeguest.Tests.Ksm;
using Largeguest.Tests.Ksm.Tuning;
using Xunit.Abstractions;

namespace Largeguest.Tests.E2E;

/// <summary>
/// The tuning daemon hears a real guest start and stop under the private libvirtd (docs/ksmtune.md "Guests coming
/// and going"): it watches that libvirtd's QEMU state directory and each event leads to one cycle within a bound,
/// read from the metrics' cycle counter (the node_exporter textfile the daemon writes after every cycle). Drives the
/// real kernel's KSM, so it holds the KSM test lock and restores every setting (<see cref="RealKsm"/>).
/// </summary>
[Collection(E2ECollection.Name)]
public sealed class TunerGuestEventTests(PrivateLibvirt libvirt, ITestOutputHelper output)
{
    /// <summary>Quiet time (1 s) + a cycle, with room for a machine busy with other guests.</summary>
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Fact]
    public void A_guest_start_and_a_guest_stop_each_lead_to_one_cycle_within_the_bound()
    {
        using var kernel = new RealKsm();
        using var box = new TunerSandbox();
        var textfile = Path.Combine(box.Dir, "ksmtune.prom");
        var stateDir = Path.Combine(libvirt.Dir, "run", "qemu");
        Directory.Exists(stateDir).Should().BeTrue($"the private libvirtd keeps its QEMU state in {stateDir}");
        var name = $"lg-e2e-tune-{Guid.NewGuid().ToString()[..8]}";
        var log = new List<string>();
        using var daemon = box.Start(new Dictionary<string,
            string> { ["LARGEGUEST__KsmTune__GuestStateDir"] = stateDir },
            "ksm", "tune", "--daemon", "--listen", "", "--interval", "3600", "--mode", "high", "--textfile", textfile);
        daemon.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.Add(e.Data); };
        daemon.BeginErrorReadLine();
        try
        {
            WaitForCycles(textfile, 1, TimeSpan.FromSeconds(30), log, "the daemon's first cycle");
            Thread.Sleep(1500); // a cycle asked for by an event before the watch was primed would show here
            Cycles(textfile).Should().Be(1, "no guest changed: only the first cycle. Log:\n" + Joined(log));

            var xml = Path.Combine(libvirt.XmlDir, name + ".xml");
            File.WriteAllText(xml, $"""
                <domain type='{libvirt.DomainType}'>
                  <name>{name}</name>
                  <memory unit='MiB'>64</memory>
                  <vcpu>1</vcpu>
                  <os><type arch='x86_64'>hvm</type></os>
                  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices>
                </domain>
                """);
            libvirt.VirshOk("create", xml);
            var started = Stopwatch.StartNew();
            WaitForCycles(textfile, 2, Bound, log, $"a cycle after guest {name} started");
            var afterStart = started.Elapsed.TotalSeconds;

            Thread.Sleep(2000); // the running guest's status rewrites are no start: no further cycle
            Cycles(textfile).Should().Be(2, "one guest start is one cycle. Log:\n" + Joined(log));

            libvirt.VirshOk("destroy", name);
            var stopped = Stopwatch.StartNew();
            WaitForCycles(textfile, 3, Bound, log, $"a cycle after guest {name} stopped");
            var afterStop = stopped.Elapsed.TotalSeconds;
            Thread.Sleep(1500);
            Cycles(textfile).Should().Be(3, "one guest stop is one cycle. Log:\n" + Joined(log));

            // each cycle also reports whether swap + free memory covers unsharing every merged page
            var (_, samples) = PromParser.Parse(File.ReadAllText(textfile));
            var swapFree = File.ReadAllLines("/proc/meminfo").Single(l => l.StartsWith("SwapFree:",
                StringComparison.Ordinal));
            samples.Value("largeguest_ksmtune_swap_free_bytes").Should().BeApproximately(
                long.Parse(swapFree.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1],
                    CultureInfo.InvariantCulture) * 1024.0, 64 << 20, swapFree);
            samples.Value("largeguest_ksmtune_swap_covered").Should().BeOneOf(0, 1);
            samples.Value("largeguest_ksmtune_unshare_need_bytes").Should().BeGreaterThanOrEqualTo(0);

            lock (log)
            {
                log.Should().Contain(l => l.Contains($"guests started {name}: cycle", StringComparison.Ordinal));
                log.Should().Contain(l => l.Contains($"guests stopped {name}: cycle", StringComparison.Ordinal));
            }
            libvirt.Figures.Print(string.Create(CultureInfo.InvariantCulture,
                $"ksm tune daemon: guest start -> cycle {afterStart:0.00} s, guest stop -> cycle {afterStop:0.00} s " +
                    $"(bound {Bound.TotalSeconds:0} s, quiet {1} s)"));
            output.WriteLine(Joined(log));
        }
        finally
        {
            libvirt.Remove(name);
            if (!daemon.HasExited)
            {
                daemon.Kill(entireProcessTree: false);
                daemon.WaitForExit(TimeSpan.FromSeconds(10));
            }
        }
    }

    private static string Joined(List<string> log)
    {
        lock (log) return string.Join("\n", log);
    }

    /// <summary>largeguest_ksmtune_cycles_total from the textfile the daemon writes after each cycle (0 before the
    /// first).</summary>
    private static double Cycles(string textfile)
    {
        if (!File.Exists(textfile)) return 0;
        var (_, samples) = PromParser.Parse(File.ReadAllText(textfile));
        return samples.Value("largeguest_ksmtune_cycles_total");
    }

    private static void WaitForCycles(string textfile, double wanted, TimeSpan bound, List<string> log, string what)
    {
        if (!Poll.Until(() => Cycles(textfile) >= wanted, bound, TimeSpan.FromMilliseconds(50)))
            throw new Xunit.Sdk.XunitException($"{what}: cycles_total {Cycles(textfile)}, not {wanted}, after " +
                $"{bound.TotalSeconds:0} s. Daemon log:\n{Joined(log)}");
    }
}
