using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Largeguest.IO;

/// <summary>
/// Reads a file that must be a regular file, without ever blocking on something that is not: opened with
/// <c>O_NONBLOCK</c> (a FIFO with no writer would block <c>open(2)</c> forever), then checked with <c>fstat</c>
/// on the descriptor itself, so what is checked is what is read.
/// </summary>
public static class RegularFile
{
    private const uint S_IFMT = 0xF000, S_IFREG = 0x8000, S_IFDIR = 0x4000, S_IFIFO = 0x1000, S_IFSOCK = 0xC000,
        S_IFCHR = 0x2000, S_IFBLK = 0x6000;

    /// <summary>The whole content, refused (<see cref="IOException"/> naming the kind) unless a regular file of at most
    /// <paramref name="maxBytes"/>.</summary>
    public static byte[] Read(string path, long maxBytes, Func<long, string> tooLarge)
    {
        var fd = Libc.Open(path, Libc.O_RDONLY | Libc.O_NONBLOCK | Libc.O_CLOEXEC, 0);
        if (fd < 0) throw new IOException(Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError()));
        using var handle = new SafeFileHandle(fd, ownsHandle: true);
        var (mode, size) = Stat(fd);
        if (KindUnlessRegular(mode) is { } kind) throw new IOException($"not a regular file but {kind}");
        if (size > maxBytes) throw new IOException(tooLarge(size));
        var content = new byte[size];
        var read = 0;
        while (read < content.Length)
        {
            var n = RandomAccess.Read(handle, content.AsSpan(read), read);
            if (n == 0) throw new IOException($"shrank while being read ({read} of {size} bytes)");
            read += n;
        }
        return content;
    }

    /// <summary>Null when <paramref name="fd"/> is a regular file, else what it is ("a FIFO", "a directory").</summary>
    public static string? KindUnlessRegular(int fd) => KindUnlessRegular(Stat(fd).Mode);

    private static string? KindUnlessRegular(uint mode) => (mode & S_IFMT) switch
    {
        S_IFREG => null,
        S_IFDIR => "a directory",
        S_IFIFO => "a FIFO",
        S_IFSOCK => "a socket",
        S_IFCHR => "a character device",
        S_IFBLK => "a block device",
        _ => "a special file",
    };

    // struct stat on x86_64 (the only architecture this product is built for): st_mode at byte 24, st_size at 48.
    private static unsafe (uint Mode, long Size) Stat(int fd)
    {
        var buffer = stackalloc byte[256];
        if (Libc.Fstat(fd, buffer) != 0)
            throw new IOException(Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError()));
        return (*(uint*)(buffer + 24), *(long*)(buffer + 48));
    }

    /// <summary>
    /// Owner and mode (type and permission bits) of <paramref name="path"/>, following symbolic links (<c>stat(2)</c>),
    /// as the state directory's trust check needs them; same struct layout as <see cref="Stat(int)"/> (st_uid at byte
    /// 28).
    /// </summary>
    public static unsafe (uint Uid, uint Mode) Owner(string path)
    {
        var buffer = stackalloc byte[256];
        if (Libc.Stat(path, buffer) != 0)
            throw new IOException(Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError()));
        return (*(uint*)(buffer + 28), *(uint*)(buffer + 24));
    }
}
