namespace Largeguest.IO;

/// <summary>
/// Replaces a file so that a reader (or a killed process at any instant) sees either the old or the new
/// complete content: a temp file in the same directory, same mode, rename over the original; with
/// <paramref name="durable"/> the temp file is fsynced before the rename, so a power loss too leaves one of the two.
/// </summary>
public static class AtomicFile
{
    /// <param name="durable">fsync before the rename: for files that must survive a power loss (an admin's file);
    /// not for VDSM's <c>_hook_domxml</c>, which is read back and deleted at once (docs/design.md section 3).</param>
    public static void Replace(string path, ReadOnlySpan<byte> content, bool durable)
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
                fs.Flush(flushToDisk: durable);
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
