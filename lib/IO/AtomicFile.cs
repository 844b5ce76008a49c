namespace Largeguest.IO;

/// <summary>
/// Replaces a file so that a reader (or a crash at any instant) sees either the old or the new
/// complete content: a temp file in the same directory, fsync, same mode, rename over the original.
/// </summary>
public static class AtomicFile
{
    public static void Replace(string path, ReadOnlySpan<byte> content)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        var temp = Path.Combine(dir, $".{Path.GetFileName(full)}.largeguest-{Environment.ProcessId}-{Random.Shared.Next():x8}.tmp");
        var mode = File.GetUnixFileMode(full);
        try
        {
            using (var fs = new FileStream(temp, new FileStreamOptions
                   { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = mode, Options = FileOptions.None }))
            {
                fs.Write(content);
                fs.Flush(flushToDisk: true);
            }
            File.SetUnixFileMode(temp, mode); // umask may have narrowed the create mode
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }
}
