using Largeguest.Ksm;
using System.Diagnostics;
using Largeguest.Ksm.Tuning;

namespace Largeguest.Tests.Ksm.Tuning;

/// <summary>The pure parts of the guest watch (docs/ksmtune.md "Guests coming and going") and the swap check.</summary>
public class GuestWatchTests
{
    private static long At(double seconds) => (long)(seconds * Stopwatch.Frequency);

    [Fact]
    public void One_event_is_due_after_the_quiet_time()
    {
        var d = new CycleDebounce(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5));
        d.DueIn(At(0)).Should().BeNull("nothing waits");
        d.Event(At(10));
        d.Take(At(10.5)).Should().BeFalse();
        d.DueIn(At(10.5)).Should().BeCloseTo(TimeSpan.FromSeconds(0.5), TimeSpan.FromMilliseconds(1));
        d.Take(At(11)).Should().BeTrue();
        d.DueIn(At(11)).Should().BeNull("taken: the wait is reset");
        d.Take(At(20)).Should().BeFalse();
    }

    [Fact]
    public void Thirty_two_guests_starting_together_give_a_few_cycles_not_32()
    {
        // A guest every 0.3 s for 32 guests (9.3 s), the watch's loop looking every 0.1 s.
        var d = new CycleDebounce(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5));
        var cycles = new List<double>();
        for (var tenth = 0; tenth <= 200; tenth++)
        {
            var now = tenth / 10.0;
            if (tenth % 3 == 0 && tenth / 3 < 32) d.Event(At(now));
            if (d.Take(At(now))) cycles.Add(now);
        }
        // at most one cycle per 5 s of events: the first at 5 s, the second 5 s after the next guest (5.1 s), which
        // covers the last guest (9.3 s) too
        cycles.Should().Equal([5.0, 10.1], "a burst of 32 starts gives one cycle per MaxDelay: {0}", string.Join(", ",
            cycles));
    }

    [Fact]
    public void The_guest_set_tells_starts_and_stops_from_rewrites()
    {
        var g = new GuestSet();
        g.Rescan(["a.xml", "a.pid", "qemu.conf", "dbus", ".b.xml.new"]).Should().Equal("started a");
        g.Appeared("a.xml").Should().BeNull("libvirt rewrites a running guest's status file by rename: no change");
        g.Appeared("b.xml.new").Should().BeNull("libvirt's temporary file");
        g.Appeared("b.xml").Should().Be("started b");
        g.Vanished("b.pid").Should().BeNull();
        g.Vanished("b.xml").Should().Be("stopped b");
        g.Vanished("b.xml").Should().BeNull();
        g.Rescan(["c.xml"]).Should().Equal("started c", "stopped a");
        g.Count.Should().Be(1);
    }

    private const long GiB = 1024 * 1024;

    [Theory]
    // total 16 GiB; need = (pages_sharing + zero pages) x 4 KiB
    [InlineData(2 * GiB, 4 * GiB, 1L << 20, true)]        // 4 GiB to unshare, 2 + 4 free: covered
    [InlineData(1 * GiB, 0, 1L << 20, false)]             // 4 GiB to unshare, 1 GiB free, no swap
    [InlineData(1 * GiB, 3 * GiB, 1L << 20, true)]        // exactly covered (>=)
    [InlineData(1 * GiB, 3 * GiB - 1, 1L << 20, false)]   // one KiB short
    [InlineData(0, 0, 0, true)]                           // nothing merged needs nothing
    public void Swap_plus_free_must_cover_unsharing_every_merged_page(long free, long swapFree, long pages,
        bool covered)
    {
        var mem = new MemInfo(16 * GiB, free, free, 0, 0, 8 * GiB, swapFree);
        var s = SwapCover.Of(mem, 18 * GiB, pages, 4096);
        s.NeedKiB.Should().Be(pages * 4);
        s.OvercommitKiB.Should().Be(2 * GiB, "18 GiB committed on a 16 GiB host");
        s.Covered.Should().Be(covered);
        s.Text.Contains("WARNING", StringComparison.Ordinal).Should().Be(!covered, s.Text);
    }

    [Fact]
    public void Meminfo_swap_lines_are_read()
    {
        var m = MemInfo.Parse("MemTotal: 100 kB\nMemFree: 50 kB\nMemAvailable: 60 kB\nSwapTotal: 2048 kB\nSwapFree: " +
            "1024 kB\n");
        (m.SwapTotalKiB, m.SwapFreeKiB).Should().Be((2048, 1024));
        MemInfo.Parse("MemTotal: 100 kB\nMemFree: 50 kB\n").SwapFreeKiB.Should().Be(0, "no swap lines: no swap");
    }

    [Fact]
    public void The_watch_sees_status_files_with_inotify_and_survives_its_directory_going_and_coming_back()
    {
        var root = Directory.CreateTempSubdirectory("guestwatch").FullName;
        var dir = Path.Combine(root, "qemu");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "old.xml"), "<domstatus/>");
        var cycles = new System.Collections.Concurrent.BlockingCollection<string>();
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using (var watch = new GuestWatch(dir, new CycleDebounce(TimeSpan.FromMilliseconds(200),
            TimeSpan.FromSeconds(1)), cycles.Add, new DaemonLog(log.Enqueue)))
        {
            watch.Start();
            Thread.Sleep(300); // primed: old.xml was there before, no cycle for it
            // libvirt writes NAME.xml.new, then renames it over NAME.xml
            File.WriteAllText(Path.Combine(dir, "a.xml.new"), "<domstatus/>");
            File.Move(Path.Combine(dir, "a.xml.new"), Path.Combine(dir, "a.xml"));
            Next(cycles).Should().Be("started a");
            File.WriteAllText(Path.Combine(dir, "a.xml.new"), "<domstatus/>");
            File.Move(Path.Combine(dir, "a.xml.new"), Path.Combine(dir, "a.xml"), overwrite: true); // a rewrite
            File.Delete(Path.Combine(dir, "old.xml"));
            Next(cycles).Should().Be("stopped old", "the rewrite of a is no start");
            // the directory goes (libvirt's /run wiped) and comes back with another guest
            Directory.Delete(dir, recursive: true);
            Next(cycles).Should().Be("stopped a");
            Directory.CreateDirectory(dir);
            File.WriteAllText(Path.Combine(dir, "b.xml"), "<domstatus/>");
            Next(cycles, TimeSpan.FromSeconds(GuestWatch.RetrySeconds + 3)).Should().Be("started b");
            cycles.TryTake(out var extra, 500).Should().BeFalse($"nothing else changed ({extra})");
        }
        Directory.Delete(root, recursive: true);
    }

    private static string Next(System.Collections.Concurrent.BlockingCollection<string> cycles,
        TimeSpan? within = null) =>
        cycles.TryTake(out var what, within ?? TimeSpan.FromSeconds(3)) ? what : "(no cycle)";

    [Fact]
    public void Thirty_two_status_files_appearing_together_ask_for_one_cycle_not_32()
    {
        var dir = Directory.CreateTempSubdirectory("guestwatch-burst").FullName;
        var cycles = new System.Collections.Concurrent.BlockingCollection<string>();
        using (var watch = new GuestWatch(dir, new CycleDebounce(TimeSpan.FromMilliseconds(300),
            TimeSpan.FromSeconds(2)), cycles.Add, new DaemonLog(_ => { })))
        {
            watch.Start();
            Thread.Sleep(300);
            for (var i = 0; i < 32; i++)
            {
                File.WriteAllText(Path.Combine(dir, $"vm{i:00}.xml.new"), "<domstatus/>");
                File.Move(Path.Combine(dir, $"vm{i:00}.xml.new"), Path.Combine(dir, $"vm{i:00}.xml"));
            }
            Next(cycles).Should().Be("started vm00, started vm01, started vm02, started vm03, started vm04, 27 more");
            cycles.TryTake(out var extra, 1000).Should().BeFalse($"32 starts at once are one cycle ({extra})");
        }
        Directory.Delete(dir, recursive: true);
    }
}
