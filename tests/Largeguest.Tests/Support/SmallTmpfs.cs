namespace Largeguest.Tests.Support;

/// <summary>A tmpfs of a few pages mounted for one test (needs root): a write really fails for want of space.</summary>
public sealed class SmallTmpfs : IDisposable
{
    public string Path { get; }

    /// <summary>Mounts a fresh tmpfs of <paramref name="size"/> (mount's syntax: "64k") on a new directory under
    /// <paramref name="parent"/>.</summary>
    public SmallTmpfs(string parent, string size)
    {
        Path = Directory.CreateDirectory(System.IO.Path.Combine(parent, "tmpfs-" + Guid.NewGuid().ToString("N")[..8]))
            .FullName;
        try { Native.Sh($"mount -t tmpfs -o size={size},mode=0755 tmpfs '{Path}'"); }
        catch (InvalidOperationException e)
        {
            throw new Xunit.Sdk.XunitException(
                $"cannot mount a tmpfs for the test (needs root and CAP_SYS_ADMIN): {e.Message}");
        }
    }

    /// <summary>Fills the file system at <paramref name="dir"/> (a file named <c>filler</c>) until only
    /// <paramref name="leaveFree"/> bytes are left.</summary>
    public static void Fill(string dir, int leaveFree)
    {
        var filler = System.IO.Path.Combine(dir, "filler");
        using (var f = new FileStream(filler, FileMode.Create))
        {
            var page = new byte[4096];
            try { while (true) { f.Write(page); f.Flush(); } }
            catch (IOException) { } // ENOSPC: the disk is full
        }
        if (leaveFree > 0)
            using (var f = new FileStream(filler, FileMode.Open)) f.SetLength(Math.Max(0, f.Length - leaveFree));
        var free = new DriveInfo(dir).AvailableFreeSpace;
        free.Should().BeLessThanOrEqualTo(leaveFree + 4096, "the disk is as full as the scenario needs");
    }

    public void Fill(int leaveFree) => Fill(Path, leaveFree);

    public void Dispose()
    {
        try
        {
            Native.Sh($"umount '{Path}'");
            Directory.Delete(Path);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException) { }
    }
}
