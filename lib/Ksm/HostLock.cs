using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Largeguest.Ksm;

/// <summary>
/// The host-wide KSM lock: an exclusive <c>flock</c> on <c>&lt;StateDir&gt;/ksm.lock</c>, waited for at most a
/// bounded time. flock locks belong to the open file description, so the kernel drops the lock when the last
/// process holding the descriptor dies, whatever way it dies: a journal found while the lock is free means
/// the transition that wrote it is gone.
/// </summary>
public sealed class HostLock : IDisposable
{
    private int _fd;

    private HostLock(int fd, string path) { _fd = fd; Path = path; }

    public string Path { get; }

    /// <summary>Takes the lock, polling until <paramref name="timeout"/> has passed (0: one attempt).</summary>
    public static HostLock Acquire(string path, TimeSpan timeout)
    {
        // never through a symlink, never blocking on a FIFO, only a regular file (docs/ksm.md, "Lock and journal")
        var fd = Native.OpenStateFile(path, Native.O_RDWR | Native.O_CREAT, out var why, 0b110_100_100);
        if (fd < 0)
            throw new KsmException($"{path}: cannot open the KSM lock: {why ?? Native.Describe(Native.ENOENT)}");
        var clock = Stopwatch.StartNew();
        var pause = TimeSpan.FromMilliseconds(1);
        while (true)
        {
            if (Native.Flock(fd, Native.LOCK_EX | Native.LOCK_NB) == 0) return new HostLock(fd, path);
            var errno = Marshal.GetLastPInvokeError();
            if (errno != Native.EWOULDBLOCK && errno != Native.EINTR)
            {
                Native.Close(fd);
                throw new KsmException($"{path}: cannot lock: {Native.Describe(errno)}");
            }
            var left = timeout - clock.Elapsed;
            if (left <= TimeSpan.Zero)
            {
                Native.Close(fd);
                throw new KsmException($"{path}: another KSM transition held the lock for more than " +
                    $"{ChildWriter.Seconds(timeout)} (Ksm:LockTimeoutSeconds)");
            }
            Thread.Sleep(pause < left ? pause : left);
            if (pause < TimeSpan.FromMilliseconds(20)) pause *= 2;
        }
    }

    /// <summary>Is the lock free right now? A non-blocking shared-lock probe on a read-only descriptor (the
    /// reconciler's lock-free look, status, tests).</summary>
    public static bool IsFree(string path)
    {
        var fd = Native.OpenStateFile(path, Native.O_RDONLY, out _);
        if (fd < 0) return true; // no lock file (or a symlink or FIFO, which Acquire refuses): nobody holds the lock
        try { return Native.Flock(fd, Native.LOCK_SH | Native.LOCK_NB) == 0; }
        finally { Native.Close(fd); }
    }

    /// <summary>
    /// For the duration of the returned scope the lock's descriptor is inherited by child processes started
    /// from this thread: a child writer that may outlive this process keeps the host locked until it ends.
    /// </summary>
    public IDisposable InheritedByChildren()
    {
        Native.Fcntl(_fd, Native.F_SETFD, 0);
        return new Scope(() => Native.Fcntl(_fd, Native.F_SETFD, Native.FD_CLOEXEC));
    }

    public void Dispose()
    {
        var fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0) Native.Close(fd); // closing the last descriptor releases the flock
    }

    private sealed class Scope(Action end) : IDisposable
    {
        public void Dispose() => end();
    }
}
