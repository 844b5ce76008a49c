using System.Runtime.InteropServices;

namespace Largeguest.IO;

/// <summary>
/// The entry names of a directory, straight from <c>opendir</c>/<c>readdir</c>: a missing directory costs one
/// failed <c>opendir</c> and no exception (the hook reads the configuration drop-in directory on every run, and
/// .NET's enumerators throw for a missing one).
/// </summary>
public static partial class DirectoryNames
{
    private const int ENOENT = 2;

    /// <summary>Decides on an entry's raw name (its bytes, as the kernel gives them) whether to keep it.</summary>
    public delegate bool NameFilter(ReadOnlySpan<byte> name);

    /// <summary>
    /// Every name but <c>.</c> and <c>..</c> (and, with <paramref name="keep"/>, only those it keeps), in no particular
    /// order; empty when <paramref name="path"/> is missing. The filter sees the bytes before any string is made, so
    /// a look for a few names in a directory of thousands (VDSM's temp directory) stays cheap.
    /// </summary>
    /// <exception cref="IOException">It exists but cannot be listed (not a directory, no permission).</exception>
    public static unsafe List<string> Read(string path, NameFilter? keep = null)
    {
        var names = new List<string>();
        var dir = OpenDir(path);
        if (dir == 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            return errno == ENOENT ? names : throw new IOException(Marshal.GetPInvokeErrorMessage(errno));
        }
        try
        {
            // struct dirent64 on x86_64 (the only architecture this product is built for): d_name at byte 19.
            for (byte* entry; (entry = (byte*)ReadDir(dir)) != null;)
            {
                var name = MemoryMarshal.CreateReadOnlySpanFromNullTerminated(entry + 19);
                if (name.SequenceEqual("."u8) || name.SequenceEqual(".."u8)) continue;
                if (keep is not null && !keep(name)) continue;
                names.Add(System.Text.Encoding.UTF8.GetString(name));
            }
        }
        finally { CloseDir(dir); }
        return names;
    }

    [LibraryImport("libc", EntryPoint = "opendir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint OpenDir(string path);

    [LibraryImport("libc", EntryPoint = "readdir64")]
    private static partial nint ReadDir(nint dir);

    [LibraryImport("libc", EntryPoint = "closedir")]
    private static partial int CloseDir(nint dir);
}
