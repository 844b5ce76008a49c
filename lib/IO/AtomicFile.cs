using System.Globalization;
using System.Runtime.InteropServices;

namespace Largeguest.IO;

/// <summary>
/// The one atomic file writer (docs/design.md section 3): a reader, or a process killed at any instant, sees the
/// old or the new complete content, and nothing is left behind. The new content goes into an unnamed file
/// (<c>O_TMPFILE</c>) in the target's directory; only when it is complete (and, with <c>durable</c>, fsynced) does it
/// get a temp name (<c>linkat</c>), which then trades places with the target in one step
/// (<c>renameat2(RENAME_EXCHANGE)</c>), and the temp name, now holding the old content, is unlinked. A swap rather
/// than a rename over the target: ext4 starts writing back a file renamed over another at once (auto_da_alloc),
/// about 3 % of a typical hook run (docs/testing.md, make bench). Where there is no target yet, or the file system
/// cannot swap, one <c>rename</c> moves the temp name over it. A kill before the link leaves nothing: the kernel
/// frees an unnamed file with its last descriptor. Where the file system refuses <c>O_TMPFILE</c> the temp file is
/// named from the start (<c>O_CREAT|O_EXCL</c>). For the moment between link and unlink, and for that fallback,
/// every successful write sweeps the directory of our own stale temp files.
/// </summary>
public static partial class AtomicFile
{
    /// <summary>
    /// A temp file of a writer that died is removed by the next write into its directory: when no process
    /// has the pid in its name (kill(pid, 0) says ESRCH), or, for a pid reused since, when it is older than this.
    /// No live writer keeps a temp name for more than a moment (the write of at most 16 MiB comes before the name).
    /// </summary>
    public static readonly TimeSpan StaleAfter = TimeSpan.FromMinutes(10);

    /// <summary>Our temp names: <c>.&lt;target&gt;.largeguest-&lt;pid&gt;-&lt;8 hex&gt;.tmp</c>.</summary>
    private const string Marker = ".largeguest-", Suffix = ".tmp";
    private static readonly byte[] MarkerBytes = System.Text.Encoding.ASCII.GetBytes(Marker),
        SuffixBytes = System.Text.Encoding.ASCII.GetBytes(Suffix);

    /// <summary>Replaces an existing file, keeping its mode.</summary>
    /// <param name="durable">fsync before the file gets a name: for files that must survive a power loss (an admin's
    /// file); not for VDSM's <c>_hook_domxml</c>, read back and deleted at once (docs/design.md section 3).</param>
    public static void Replace(string path, ReadOnlySpan<byte> content, bool durable)
    {
        var full = Path.GetFullPath(path);
        Write(full, content, durable, File.GetUnixFileMode(full));
    }

    /// <summary>Creates or replaces <paramref name="path"/> with exactly <paramref name="mode"/> (whatever the umask).
    /// Throws <see cref="IOException"/> naming the failed step; the target is then as it was and no temp file
    /// remains.</summary>
    public static void Write(string path, ReadOnlySpan<byte> content, bool durable, UnixFileMode mode)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        var temp = Path.Combine(dir, TempName(Path.GetFileName(full), Environment.ProcessId, Random.Shared.Next()));
        var named = false; // does `temp` exist (and so need removing on failure)?
        var fd = Libc.Open(dir, Libc.O_TMPFILE | Libc.O_WRONLY | Libc.O_CLOEXEC, (int)mode);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno is not (Libc.EOPNOTSUPP or Libc.EISDIR or Libc.EINVAL))
                throw Failed("cannot create the new file", errno);
            // this file system cannot hold an unnamed file: named from the start (never through a planted symlink)
            const int Create = Libc.O_WRONLY | Libc.O_CREAT | Libc.O_EXCL | Libc.O_CLOEXEC;
            fd = Libc.Open(temp, Create | Libc.O_NOFOLLOW, (int)mode);
            if (fd < 0) throw Failed("cannot create the new file", Marshal.GetLastPInvokeError());
            named = true;
        }
        try
        {
            WriteAll(fd, content);
            // the umask may have narrowed the mode open(2) gave
            if (Libc.Fchmod(fd, (int)mode) != 0) throw Failed("cannot set the mode", Marshal.GetLastPInvokeError());
            if (durable && Libc.Fsync(fd) != 0) throw Failed("cannot flush to disk", Marshal.GetLastPInvokeError());
            if (!named)
            {
                // The descriptor's /proc link names the unnamed file; AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH.
                var self = $"/proc/self/fd/{fd.ToString(CultureInfo.InvariantCulture)}";
                if (Libc.Linkat(Libc.AT_FDCWD, self, Libc.AT_FDCWD, temp, Libc.AT_SYMLINK_FOLLOW) != 0)
                    throw Failed("cannot name the new file", Marshal.GetLastPInvokeError());
                named = true;
            }
            MoveIntoPlace(temp, full);
            named = false;
        }
        catch
        {
            if (named) Libc.Unlink(temp);
            throw;
        }
        finally { Libc.Close(fd); }
        SweepStale(dir);
    }

    /// <summary>Puts the complete temp file at <paramref name="target"/> in one step: a swap and an unlink of the old
    /// content (see the class summary), or one rename where there is no target yet or the file system cannot
    /// swap.</summary>
    private static void MoveIntoPlace(string temp, string target)
    {
        if (Libc.Renameat2(Libc.AT_FDCWD, temp, Libc.AT_FDCWD, target, Libc.RENAME_EXCHANGE) != 0)
        {
            if (Marshal.GetLastPInvokeError() is not (Libc.ENOENT or Libc.EINVAL or Libc.ENOSYS or Libc.EOPNOTSUPP)
                || Libc.Rename(temp, target) != 0)
                throw Failed("cannot rename the new file into place", Marshal.GetLastPInvokeError());
            return;
        }
        // the old content, now under the temp name; should removing it fail, the next write's sweep does it
        if (Libc.Unlink(temp) == 0 || Marshal.GetLastPInvokeError() != Libc.EISDIR) return;
        // the target was a directory, which a rename over it would have refused: put it back
        Libc.Renameat2(Libc.AT_FDCWD, temp, Libc.AT_FDCWD, target, Libc.RENAME_EXCHANGE);
        throw Failed("cannot rename the new file into place", Libc.EISDIR);
    }

    /// <summary>Removes our temp files in <paramref name="dir"/> whose writer is gone (<see cref="StaleAfter"/>);
    /// best effort.</summary>
    public static void SweepStale(string dir)
    {
        try
        {
            foreach (var name in DirectoryNames.Read(dir, MaybeTempName))
            {
                if (ParseTempName(name) is not int pid) continue;
                var path = Path.Combine(dir, name);
                var alive = pid == Environment.ProcessId || Libc.Kill(pid, 0) == 0
                    || Marshal.GetLastPInvokeError() == Libc.EPERM; // alive, another user's
                if (alive && DateTime.UtcNow - File.GetLastWriteTimeUtc(path) < StaleAfter) continue;
                Libc.Unlink(path);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { } // the write itself succeeded
    }

    /// <summary>A cheap first look at a raw entry name: could it be one of our temp names?</summary>
    private static bool MaybeTempName(ReadOnlySpan<byte> name) =>
        name.Length > 0 && name[0] == (byte)'.' && name.EndsWith(SuffixBytes) && name.IndexOf(MarkerBytes) > 0;

    internal static string TempName(string target, int pid, int random) =>
        $".{target}{Marker}{pid.ToString(CultureInfo.InvariantCulture)}-{random:x8}{Suffix}";

    /// <summary>The writer's pid when <paramref name="name"/> is exactly one of our temp names, else null.</summary>
    internal static int? ParseTempName(string name)
    {
        if (!name.StartsWith('.') || !name.EndsWith(Suffix, StringComparison.Ordinal)) return null;
        var at = name.LastIndexOf(Marker, StringComparison.Ordinal);
        if (at < 1) return null;
        var rest = name.AsSpan(at + Marker.Length, name.Length - at - Marker.Length - Suffix.Length); // "<pid>-<hex8>"
        var dash = rest.IndexOf('-');
        if (dash < 1 || rest.Length - dash - 1 != 8) return null;
        if (!int.TryParse(rest[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid <= 0)
            return null;
        var hex = int.TryParse(rest[(dash + 1)..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out _);
        return hex ? pid : null;
    }

    private static unsafe void WriteAll(int fd, ReadOnlySpan<byte> content)
    {
        var done = 0;
        while (done < content.Length)
        {
            nint n;
            fixed (byte* p = content[done..]) n = Libc.Write(fd, p, content.Length - done);
            if (n < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno == Libc.EINTR) continue;
                throw Failed("cannot write the new content", errno);
            }
            if (n == 0) throw Failed("cannot write the new content", Libc.EIO);
            done += (int)n;
        }
    }

    private static IOException Failed(string step, int errno) =>
        new($"{step}: {Marshal.GetPInvokeErrorMessage(errno)}");
}
