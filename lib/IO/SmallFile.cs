using System.Runtime.InteropServices;

namespace Largeguest.IO;

/// <summary>
/// Reads a small file (a sysfs attribute, a <c>/proc</c> file, one of our state files) with open, read and close and
/// nothing else: no stat, no stream, no decoder, which every hook run would otherwise pay for, file by file. A page
/// is read into the stack; a longer file (a sysfs CPU list of a large host can exceed a page) into the heap, up to
/// <see cref="MaxBytes"/>.
/// </summary>
public static class SmallFile
{
    private const int PageBytes = 4096;

    /// <summary>Far beyond any file read this way; a longer one is refused (EFBIG), never cut short.</summary>
    public const int MaxBytes = 1 << 20;

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

    /// <summary>Reads <paramref name="fd"/> to its end (at most <see cref="MaxBytes"/>) and closes it; null with the
    /// errno on a read error.</summary>
    internal static unsafe string? ReadAndClose(int fd, out int errno)
    {
        errno = 0;
        try
        {
            Span<byte> buffer = stackalloc byte[PageBytes];
            var total = 0;
            while (true)
            {
                if (total == buffer.Length)
                {
                    // one byte beyond the limit tells a file of exactly MaxBytes from a longer one
                    if (buffer.Length > MaxBytes) { errno = Libc.EFBIG; return null; }
                    var larger = new byte[Math.Min(buffer.Length * 2, MaxBytes + 1)];
                    buffer.CopyTo(larger);
                    buffer = larger;
                }
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
