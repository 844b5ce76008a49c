using System.Runtime.InteropServices;

namespace Largeguest.IO;

/// <summary>
/// Reads a small kernel file (a sysfs attribute or a <c>/proc</c> file of at most a page) with open, read and close
/// and nothing else: no stat, no stream, no decoder, which every hook run would otherwise pay for, file by file.
/// </summary>
public static class SmallFile
{
    /// <summary>A sysfs attribute is at most one page; the <c>/proc</c> files read this way are shorter.</summary>
    private const int MaxBytes = 4096;

    /// <summary>The text, or null when the file does not exist; any other failure is an <see cref="IOException"/>
    /// naming the file.</summary>
    public static string? Read(string path)
    {
        var fd = Libc.Open(path, Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            return errno == Libc.ENOENT ? null : throw Failed(path, errno);
        }
        return ReadAndClose(fd, out var readErrno) ?? throw Failed(path, readErrno);
    }

    /// <summary>The text, or null when the file cannot be opened or read (missing, write-only, gone).</summary>
    public static string? TryRead(string path)
    {
        var fd = Libc.Open(path, Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
        return fd < 0 ? null : ReadAndClose(fd, out _);
    }

    /// <summary>Reads <paramref name="fd"/> to its end (at most a page) and closes it; null with the errno on a read
    /// error.</summary>
    internal static unsafe string? ReadAndClose(int fd, out int errno)
    {
        errno = 0;
        try
        {
            Span<byte> buffer = stackalloc byte[MaxBytes];
            var total = 0;
            while (total < buffer.Length)
            {
                nint n;
                fixed (byte* p = buffer[total..]) n = Libc.Read(fd, p, buffer.Length - total);
                if (n < 0)
                {
                    errno = Marshal.GetLastPInvokeError();
                    if (errno == Libc.EINTR) continue;
                    return null;
                }
                if (n == 0) break;
                total += (int)n;
            }
            return System.Text.Encoding.ASCII.GetString(buffer[..total]);
        }
        finally { Libc.Close(fd); }
    }

    private static IOException Failed(string path, int errno) =>
        new($"{path}: {Marshal.GetPInvokeErrorMessage(errno)}");
}
