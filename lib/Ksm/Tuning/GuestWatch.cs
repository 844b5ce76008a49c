using System.Runtime.InteropServices;
using System.Text;

namespace Largeguest.Ksm.Tuning;

/// <summary>
/// When guest start/stop events ask for a cycle (pure; docs/ksmtune.md "Guests coming and going"): the first event
/// starts a wait; every further event within <see cref="Quiet"/> extends it, but never beyond <see cref="MaxDelay"/>
/// after the first. A burst of guests starting together gives one cycle per <see cref="MaxDelay"/>, not one per guest.
/// </summary>
public sealed class CycleDebounce(TimeSpan quiet, TimeSpan maxDelay)
{
    private long? _first, _last;

    public TimeSpan Quiet => quiet;
    public TimeSpan MaxDelay => maxDelay;

    /// <summary>An event at <paramref name="now"/> (Stopwatch ticks).</summary>
    public void Event(long now)
    {
        _first ??= now;
        _last = now;
    }

    /// <summary>How long until a cycle is due (zero: now), or null when no event waits.</summary>
    public TimeSpan? DueIn(long now)
    {
        if (_first is not long first || _last is not long last) return null;
        var byQuiet = quiet - Elapsed(last, now);
        var byMax = maxDelay - Elapsed(first, now);
        var due = byQuiet < byMax ? byQuiet : byMax;
        return due > TimeSpan.Zero ? due : TimeSpan.Zero;
    }

    /// <summary>True (and the wait reset) when a cycle is due at <paramref name="now"/>.</summary>
    public bool Take(long now)
    {
        if (DueIn(now) != TimeSpan.Zero) return false;
        _first = _last = null;
        return true;
    }

    private static TimeSpan Elapsed(long from, long to) =>
        TimeSpan.FromSeconds((double)(to - from) / System.Diagnostics.Stopwatch.Frequency);
}

/// <summary>
/// The set of running guests as libvirt's QEMU driver records them: one status file <c>NAME.xml</c> per running
/// domain in its state directory (<c>/run/libvirt/qemu</c>), written when the guest starts (rewritten in place by
/// rename while it runs and when libvirtd reconnects after a restart) and deleted when it stops. Pure: fed names.
/// </summary>
public sealed class GuestSet
{
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);

    public static string? GuestOf(string fileName) =>
        fileName.EndsWith(".xml", StringComparison.Ordinal) && fileName.Length > 4 && !fileName.StartsWith('.')
            ? fileName[..^4]
            : null;

    /// <summary>
    /// A status file appeared: "started NAME" when the guest is new, null for a rewrite of a known one.
    /// </summary>
    public string? Appeared(string fileName) => GuestOf(fileName) is { } g && _names.Add(g) ? $"started {g}" : null;

    /// <summary>A status file went away: "stopped NAME".</summary>
    public string? Vanished(string fileName) => GuestOf(fileName) is { } g && _names.Remove(g) ? $"stopped {g}" : null;

    /// <summary>The directory as listed now: what started and stopped since the set was last right.</summary>
    public IReadOnlyList<string> Rescan(IEnumerable<string> fileNames)
    {
        var now = fileNames.Select(GuestOf).OfType<string>().ToHashSet(StringComparer.Ordinal);
        var changes = now.Where(n => !_names.Contains(n)).Order(StringComparer.Ordinal).Select(n => $"started {n}")
            .Concat(_names.Where(n => !now.Contains(n)).Order(StringComparer.Ordinal).Select(n => $"stopped {n}"))
            .ToList();
        _names.Clear();
        _names.UnionWith(now);
        return changes;
    }

    public int Count => _names.Count;
}

/// <summary>
/// Watches libvirt's per-domain status files with inotify and calls <c>cycle</c> (debounced) when a guest starts or
/// stops. Needs no libvirtd: while it is down or restarting the directory stays (it is libvirt's record on /run), a
/// restart rewrites known files (no event), and a directory that is missing or removed is looked for again every
/// <see cref="RetrySeconds"/> s, with a rescan once it is back. docs/ksmtune.md says why not libvirt's events.
/// </summary>
public sealed partial class GuestWatch : IDisposable
{
    public const int RetrySeconds = 2;
    private static readonly TimeSpan IdleWake = TimeSpan.FromSeconds(2);
    private const uint InCreate = 0x100, InDelete = 0x200, InMovedFrom = 0x40, InMovedTo = 0x80, InDeleteSelf = 0x400,
        InMoveSelf = 0x800, InIgnored = 0x8000, InQueueOverflow = 0x4000, InOnlyDir = 0x01000000;
    private const int InNonblock = 0x800, InCloexec = 0x80000;
    private const short PollIn = 1;

    private readonly string _dir;
    private readonly CycleDebounce _debounce;
    private readonly Action<string> _cycle;
    private readonly DaemonLog _log;
    private readonly GuestSet _guests = new();
    private readonly Thread _thread;
    private readonly List<string> _pending = [];
    private volatile bool _stop;
    private int _fd = -1;
    private bool _primed;

    public GuestWatch(string dir, CycleDebounce debounce, Action<string> cycle, DaemonLog log)
    {
        (_dir, _debounce, _cycle, _log) = (dir, debounce, cycle, log);
        _thread = new Thread(Loop) { IsBackground = true, Name = "guest-watch" };
    }

    public void Start() => _thread.Start();

    private void Loop()
    {
        var missingSaid = false;
        long nextAttach = 0;
        while (!_stop)
        {
            try
            {
                var now = System.Diagnostics.Stopwatch.GetTimestamp();
                if (_fd < 0 && now >= nextAttach && !Attach(ref missingSaid))
                    nextAttach = now + RetrySeconds * System.Diagnostics.Stopwatch.Frequency;
                // Wake for an event, a due cycle, the next look for a missing directory, or every IdleWake to see
                // Dispose: an idle daemon wakes once per IdleWake (make bench: the daemon's idle CPU).
                var wait = _debounce.DueIn(now) is TimeSpan d && d < IdleWake ? d : IdleWake;
                if (_fd < 0)
                {
                    var untilAttach =
                        TimeSpan.FromSeconds((double)(nextAttach - now) / System.Diagnostics.Stopwatch.Frequency);
                    Thread.Sleep(
                        untilAttach < wait ? (untilAttach > TimeSpan.Zero ? untilAttach : TimeSpan.Zero) : wait);
                }
                else if (Poll(_fd, (int)Math.Ceiling(wait.TotalMilliseconds))) ReadEvents();
                if (_debounce.Take(System.Diagnostics.Stopwatch.GetTimestamp()))
                {
                    var what = string.Join(", ",
                        _pending.Count > 6 ? [.. _pending.Take(5), $"{_pending.Count - 5} more"] : _pending);
                    _pending.Clear();
                    _cycle(what);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or KsmTuneException)
            {
                _log.Warning($"ksm tune: watching {_dir}: {e.Message}; looking again in {RetrySeconds} s");
                Detach();
                nextAttach = System.Diagnostics.Stopwatch.GetTimestamp()
                    + RetrySeconds * System.Diagnostics.Stopwatch.Frequency;
            }
        }
        Detach();
    }

    private bool Attach(ref bool missingSaid)
    {
        var fd = InotifyInit1(InNonblock | InCloexec);
        if (fd < 0) throw new KsmTuneException($"inotify_init1: {Native.Describe(Marshal.GetLastPInvokeError())}");
        if (InotifyAddWatch(fd, _dir,
            InCreate | InDelete | InMovedFrom | InMovedTo | InDeleteSelf | InMoveSelf | InOnlyDir) < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            Native.Close(fd);
            if (!missingSaid)
                _log.Warning($"ksm tune: {_dir}: {Native.Describe(errno)}: guest start/stop not seen until it exists " +
                    $"(looking every {RetrySeconds} s)");
            missingSaid = true;
            _primed = true; // the daemon's first cycle saw no guests here
            Changed(_guests.Rescan([])); // no directory: no guests libvirt records
            return false;
        }
        _fd = fd;
        if (missingSaid) _log.Info($"ksm tune: watching {_dir} for guest start/stop");
        missingSaid = false;
        var changes = _guests.Rescan(Directory.EnumerateFiles(_dir).Select(Path.GetFileName).OfType<string>());
        if (_primed) Changed(changes); // the guests found at the first attach are the daemon's first cycle's
        _primed = true;
        return true;
    }

    private void Changed(IEnumerable<string> changes)
    {
        foreach (var c in changes) { _pending.Add(c); _debounce.Event(System.Diagnostics.Stopwatch.GetTimestamp()); }
    }

    private unsafe void ReadEvents()
    {
        Span<byte> buffer = stackalloc byte[16 * 1024];
        while (true)
        {
            nint n;
            fixed (byte* p = buffer) n = Native.Read(_fd, p, buffer.Length);
            if (n <= 0) return; // EAGAIN: drained
            var off = 0;
            while (off + 16 <= n)
            {
                var mask = MemoryMarshal.Read<uint>(buffer[(off + 4)..]);
                var len = (int)MemoryMarshal.Read<uint>(buffer[(off + 12)..]);
                var nameBytes = buffer.Slice(off + 16, len);
                var zero = nameBytes.IndexOf((byte)0);
                var name = Encoding.UTF8.GetString(zero >= 0 ? nameBytes[..zero] : nameBytes);
                off += 16 + len;
                if ((mask & InQueueOverflow) != 0)
                {
                    Changed(_guests.Rescan(Directory.EnumerateFiles(_dir).Select(Path.GetFileName).OfType<string>()));
                    continue;
                }
                if ((mask & (InDeleteSelf | InMoveSelf | InIgnored)) != 0) { Detach(); return; }
                var change = (mask & (InCreate | InMovedTo)) != 0 ? _guests.Appeared(name)
                    : (mask & (InDelete | InMovedFrom)) != 0 ? _guests.Vanished(name) : null;
                if (change is not null) Changed([change]);
            }
        }
    }

    private void Detach()
    {
        if (_fd >= 0) Native.Close(_fd);
        _fd = -1;
    }

    private static unsafe bool Poll(int fd, int timeoutMs)
    {
        var pfd = new PollFd { Fd = fd, Events = PollIn };
        var r = PollNative(&pfd, 1, timeoutMs);
        if (r < 0 && Marshal.GetLastPInvokeError() != Native.EINTR)
            throw new KsmTuneException($"poll: {Native.Describe(Marshal.GetLastPInvokeError())}");
        return r > 0 && (pfd.Revents & PollIn) != 0;
    }

    public void Dispose()
    {
        _stop = true;
        if (_thread.IsAlive)
            _thread.Join(IdleWake + TimeSpan.FromSeconds(1)); // a background thread: never holds the process
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd { public int Fd; public short Events; public short Revents; }

    [LibraryImport("libc", EntryPoint = "inotify_init1", SetLastError = true)]
    private static partial int InotifyInit1(int flags);

    [LibraryImport("libc", EntryPoint = "inotify_add_watch", SetLastError = true,
        StringMarshalling = StringMarshalling.Utf8)]
    private static partial int InotifyAddWatch(int fd, string path, uint mask);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static unsafe partial int PollNative(PollFd* fds, nuint count, int timeoutMs);
}
