using Largeguest.IO;
using System.Runtime.InteropServices;

namespace Largeguest.Ksm;

/// <summary>
/// The few libc calls KSM work needs and .NET does not expose with exact errno semantics:
/// sysfs writes (EBUSY must be told apart from other failures) and flock (the host-wide lock).
/// </summary>
internal static partial class Native
{
    private const string Libc = "libc";

    public const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0x40, O_EXCL = 0x80, O_CLOEXEC = 0x80000;
    public const int O_NONBLOCK = 0x800;
    /// <summary>O_NOFOLLOW is one of the few open flags whose value differs between architectures.</summary>
    public static readonly int O_NOFOLLOW =
        RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x8000 : 0x20000;
    /// <summary>Flags for opening a state file: never through a symlink, never blocking on a FIFO.</summary>
    public static int StateFileFlags => O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
    public const int ELOOP = 40;
    public const int LOCK_SH = 1, LOCK_EX = 2, LOCK_NB = 4;
    public const int F_SETFD = 2, FD_CLOEXEC = 1;
    public const int EINTR = 4, EWOULDBLOCK = 11, EBUSY = 16, EINVAL = 22, ENOMEM = 12, EEXIST = 17, ENOENT = 2;

    [LibraryImport(Libc, EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);

    [LibraryImport(Libc, EntryPoint = "geteuid")]
    public static partial uint Geteuid();

    [LibraryImport(Libc, EntryPoint = "sysconf")]
    public static partial long Sysconf(int name);

    [LibraryImport(Libc, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags, int mode);

    [LibraryImport(Libc, EntryPoint = "write", SetLastError = true)]
    public static unsafe partial nint Write(int fd, byte* buffer, nint count);

    [LibraryImport(Libc, EntryPoint = "read", SetLastError = true)]
    public static unsafe partial nint Read(int fd, byte* buffer, nint count);

    [LibraryImport(Libc, EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    /// <summary>link(2): a new name for a file, failing with EEXIST instead of replacing one.</summary>
    [LibraryImport(Libc, EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Link(string existing, string name);

    /// <summary>rename(2) itself (File.Move without overwrite is link + unlink, which could unlink a name replaced in
    /// between).</summary>
    [LibraryImport(Libc, EntryPoint = "rename", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Rename(string from, string to);

    [LibraryImport(Libc, EntryPoint = "flock", SetLastError = true)]
    public static partial int Flock(int fd, int operation);

    [LibraryImport(Libc, EntryPoint = "fcntl", SetLastError = true)]
    public static partial int Fcntl(int fd, int command, int argument);

    /// <summary>Null when <paramref name="fd"/> is a regular file, else what it is instead (<see cref="RegularFile"/>
    /// decides).</summary>
    private static string? NotRegular(int fd)
    {
        try { return RegularFile.KindUnlessRegular(fd) is { } kind ? $"{kind}, not a regular file" : null; }
        catch (IOException e) { return $"cannot stat it: {e.Message}"; }
    }

    /// <summary>Why opening a state file failed, in words (ELOOP from O_NOFOLLOW: a symlink).</summary>
    public static string DescribeOpen(int errno) =>
        errno == ELOOP ? "a symbolic link, not a regular file" : Describe(errno);

    /// <summary>The C library's text for an errno value ("Device or resource busy").</summary>
    public static string Describe(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    /// <summary>
    /// Opens one of our state files (request, journal, lock) with <paramref name="flags"/> plus
    /// <see cref="StateFileFlags"/>: never through a symlink, never blocking on a FIFO, and only a regular file
    /// (checked on the descriptor), so nothing planted in the state directory can hang or steer the root helper. The
    /// descriptor, or -1 with <paramref name="why"/> in words (null when the file, or with O_CREAT its directory, does
    /// not exist).
    /// </summary>
    public static int OpenStateFile(string path, int flags, out string? why, int mode = 0)
    {
        why = null;
        var fd = Open(path, flags | StateFileFlags, mode);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno != ENOENT) why = DescribeOpen(errno); // ENOENT: simply absent
            return -1;
        }
        if (NotRegular(fd) is { } what) { Close(fd); why = what; return -1; }
        return fd;
    }

    /// <summary>Reads one of our state files (<see cref="OpenStateFile"/>). Null when it does not exist; otherwise the
    /// text, or null with <paramref name="why"/>.</summary>
    public static string? ReadStateFile(string path, out string? why)
    {
        var fd = OpenStateFile(path, O_RDONLY, out why);
        if (fd < 0) return null;
        var text = SmallFile.ReadAndClose(fd, out _);
        if (text is null) why = "cannot read it";
        return text;
    }

    /// <summary>Writes all of <paramref name="bytes"/> with one write(2) (sysfs takes a value in one call); returns 0
    /// or errno.</summary>
    public static unsafe int WriteFile(string path, ReadOnlySpan<byte> bytes)
    {
        var fd = Open(path, O_WRONLY | O_CLOEXEC, 0);
        if (fd < 0) return Marshal.GetLastPInvokeError();
        try
        {
            while (true)
            {
                nint written;
                fixed (byte* p = bytes) written = Write(fd, p, bytes.Length);
                if (written >= 0) return written == bytes.Length ? 0 : EINVAL;
                var errno = Marshal.GetLastPInvokeError();
                if (errno != EINTR) return errno;
            }
        }
        finally { Close(fd); }
    }
}
