using System.Runtime.InteropServices;

namespace Largeguest.IO;

/// <summary>The libc calls the file code needs with exact errno semantics, and their flag values (Linux).</summary>
internal static unsafe partial class Libc
{
    private const string Name = "libc";

    public const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0x40, O_EXCL = 0x80;
    public const int O_NONBLOCK = 0x800, O_CLOEXEC = 0x80000;

    private static readonly bool Arm = RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm;
    /// <summary>O_NOFOLLOW and O_DIRECTORY (part of O_TMPFILE) are among the few open flags whose values differ
    /// between architectures.</summary>
    public static readonly int O_NOFOLLOW = Arm ? 0x8000 : 0x20000;
    public static readonly int O_TMPFILE = 0x400000 | (Arm ? 0x4000 : 0x10000);

    public const int AT_FDCWD = -100, AT_SYMLINK_FOLLOW = 0x400;
    public const uint RENAME_EXCHANGE = 2;
    public const int ENOENT = 2, EINTR = 4, EIO = 5, EPERM = 1, EISDIR = 21, EINVAL = 22, EFBIG = 27, ENOSYS = 38,
        ELOOP = 40, EOPNOTSUPP = 95;

    [LibraryImport(Name, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags, int mode);

    [LibraryImport(Name, EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport(Name, EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int fd, byte* buffer, nint count);

    [LibraryImport(Name, EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(int fd, byte* buffer, nint count);

    [LibraryImport(Name, EntryPoint = "fchmod", SetLastError = true)]
    public static partial int Fchmod(int fd, int mode);

    [LibraryImport(Name, EntryPoint = "fsync", SetLastError = true)]
    public static partial int Fsync(int fd);

    [LibraryImport(Name, EntryPoint = "fstat", SetLastError = true)]
    public static partial int Fstat(int fd, byte* buffer);

    [LibraryImport(Name, EntryPoint = "stat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Stat(string path, byte* buffer);

    [LibraryImport(Name, EntryPoint = "linkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Linkat(int oldDirFd, string oldPath, int newDirFd, string newPath, int flags);

    /// <summary>rename(2) itself: replaces the target in one step.</summary>
    [LibraryImport(Name, EntryPoint = "rename", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Rename(string from, string to);

    /// <summary>renameat2(2): with <see cref="RENAME_EXCHANGE"/>, swaps two existing names in one step.</summary>
    [LibraryImport(Name, EntryPoint = "renameat2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Renameat2(int oldDirFd, string oldPath, int newDirFd, string newPath, uint flags);

    [LibraryImport(Name, EntryPoint = "unlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Unlink(string path);

    [LibraryImport(Name, EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);
}
