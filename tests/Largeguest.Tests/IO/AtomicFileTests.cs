using System.Diagnostics;
using Largeguest.IO;
using Largeguest.Tests.Support;

namespace Largeguest.Tests.IO;

/// <summary>
/// The one atomic writer (docs/design.md section 3) on real file systems: the unnamed-file path on tmpfs/ext4, the
/// named-temp fallback on a FUSE file system that refuses O_TMPFILE (fuse2fs), the sweep of a dead writer's temp
/// files, and no temp file left by a write that fails for want of space. The crash test (Reliability/) kills the
/// published hook; these pin each path down.
/// </summary>
public sealed class AtomicFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("largeguest-atomic-").FullName;
    private readonly List<string> _mounts = [];

    public void Dispose()
    {
        foreach (var m in Enumerable.Reverse(_mounts))
        {
            try { Native.Sh($"umount '{m}'"); }
            catch (InvalidOperationException) { }
        }
        Directory.Delete(_dir, recursive: true);
    }

    private const UnixFileMode Mode0640 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead;
    private const UnixFileMode Mode0666 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead |
        UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite;

    private static void RequireRoot()
    {
        if (Native.Sh("id -u").Trim() != "0")
            throw new Xunit.Sdk.XunitException("this test mounts file systems and needs root; run `make test` as root");
    }

    /// <summary>A pid no process has: a child that has exited and been reaped.</summary>
    private static int DeadPid()
    {
        using var p = Process.Start(new ProcessStartInfo("/bin/true") { UseShellExecute = false })!;
        p.WaitForExit();
        return p.Id;
    }

    private static string TempOf(string target, int pid) => AtomicFile.TempName(target, pid, Random.Shared.Next());

    [Theory]
    [InlineData(".tmpab12.largeguest-123-0a0b0c0d.tmp", 123)]
    [InlineData(".x.largeguest-1.largeguest-77-ffffffff.tmp", 77)]
    [InlineData("tmpab12.largeguest-123-0a0b0c0d.tmp", null)] // not a dot file
    [InlineData(".tmpab12.largeguest-123-0a0b0c0.tmp", null)] // 7 hex digits
    [InlineData(".tmpab12.largeguest-123-0a0b0c0g.tmp", null)]
    [InlineData(".tmpab12.largeguest--0a0b0c0d.tmp", null)]
    [InlineData(".tmpab12.largeguest-0-0a0b0c0d.tmp", null)]
    [InlineData(".tmpab12.largeguest-123-0a0b0c0d.tmpx", null)]
    [InlineData(".largeguest-123-0a0b0c0d.tmp", null)] // no target name
    [InlineData(".a.prune", null)]
    public void Only_our_own_temp_names_are_recognised(string name, int? pid) =>
        AtomicFile.ParseTempName(name).Should().Be(pid);

    [Fact]
    public void Our_temp_name_parses_back_to_its_pid() =>
        AtomicFile.ParseTempName(AtomicFile.TempName("tmpq1w2e3", 4242, -5)).Should().Be(4242);

    [Fact]
    public void Writes_with_exactly_the_mode_asked_and_leaves_only_the_target()
    {
        var target = Path.Combine(_dir, "state");
        AtomicFile.Write(target, "one\n"u8, durable: false, Mode0666); // more than the umask (022) lets open(2) give
        File.GetUnixFileMode(target).Should().Be(Mode0666);
        var inode = Native.Stat(target)!.Inode;
        AtomicFile.Write(target, "two\n"u8, durable: true, Mode0640);
        File.ReadAllText(target).Should().Be("two\n");
        File.GetUnixFileMode(target).Should().Be(Mode0640);
        Native.Stat(target)!.Inode.Should().NotBe(inode, "a new file took the old one's place");
        Directory.GetFileSystemEntries(_dir).Should().Equal([target]);
    }

    [Fact]
    public void A_directory_at_the_target_fails_the_write_and_stays_where_it_is()
    {
        var target = Directory.CreateDirectory(Path.Combine(_dir, "domain.xml")).FullName;
        File.WriteAllText(Path.Combine(target, "inside"), "kept");

        FluentActions.Invoking(() => AtomicFile.Write(target, "<new/>"u8, durable: false, Mode0640))
            .Should().Throw<IOException>().WithMessage("cannot rename the new file into place: *");

        File.ReadAllText(Path.Combine(target, "inside")).Should().Be("kept");
        Directory.GetFileSystemEntries(_dir).Should().Equal([target], "no temp file is left");
    }

    [Fact]
    public void Replace_keeps_the_original_s_mode_and_refuses_a_missing_file()
    {
        var target = Path.Combine(_dir, "domain.xml");
        File.WriteAllText(target, "<old/>");
        File.SetUnixFileMode(target, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        AtomicFile.Replace(target, "<new/>"u8, durable: false);
        File.ReadAllText(target).Should().Be("<new/>");
        File.GetUnixFileMode(target).Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite);
        FluentActions.Invoking(() => AtomicFile.Replace(Path.Combine(_dir, "absent"), "x"u8, durable: false))
            .Should().Throw<FileNotFoundException>();
        Directory.GetFileSystemEntries(_dir).Should().Equal([target]);
    }

    [Fact]
    public void A_write_sweeps_the_temp_files_of_dead_writers_and_only_those()
    {
        var dead = TempOf("tmpdead1", DeadPid());
        var live = TempOf("tmplive1", Environment.ProcessId); // a write of ours in flight
        var liveOld = TempOf("tmplive2", 1); // pid 1 lives, but no writer keeps a temp name for minutes: a reused pid
        var notOurs = ".tmpdead1.other-1-0a0b0c0d.tmp";
        foreach (var name in new[] { dead, live, liveOld, notOurs })
            File.WriteAllText(Path.Combine(_dir, name), "partial");
        var longAgo = DateTime.UtcNow - AtomicFile.StaleAfter - TimeSpan.FromMinutes(1);
        File.SetLastWriteTimeUtc(Path.Combine(_dir, liveOld), longAgo);

        AtomicFile.Write(Path.Combine(_dir, "target"), "x"u8, durable: false, Mode0640);

        Directory.GetFileSystemEntries(_dir).Select(Path.GetFileName)
            .Should().BeEquivalentTo(["target", live, notOurs]);
    }

    [Fact]
    public void Falls_back_to_a_named_temp_file_where_the_file_system_refuses_O_TMPFILE()
    {
        RequireRoot();
        File.Exists("/usr/bin/fuse2fs").Should()
            .BeTrue("fuse2fs (a FUSE file system without O_TMPFILE) is needed; `make deps` installs it");
        var image = Path.Combine(_dir, "ext4.img");
        var mnt = Directory.CreateDirectory(Path.Combine(_dir, "fuse")).FullName;
        Native.Sh($"truncate -s 8M '{image}' && mkfs.ext4 -q -F '{image}' && fuse2fs '{image}' '{mnt}' -o fakeroot");
        _mounts.Add(mnt);
        // the premise: this file system really refuses an unnamed file
        Native.Sh("python3 -c \"import os\ntry: " +
                  $"os.open('{mnt}', os.O_TMPFILE | os.O_WRONLY, 0o600)\nexcept OSError as e: print(e.errno)\"")
            .Trim().Should().Be("95", "open(O_TMPFILE) fails with EOPNOTSUPP there");
        // ... and cannot swap two names, so the plain rename is what replaces the target
        File.WriteAllText(Path.Combine(mnt, "a"), "a");
        File.WriteAllText(Path.Combine(mnt, "b"), "b");
        Native.Sh("python3 -c \"import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n" +
                  $"libc.renameat2(-100, b'{mnt}/a', -100, b'{mnt}/b', 2)\nprint(ctypes.get_errno())\"")
            .Trim().Should().Be("22", "renameat2(RENAME_EXCHANGE) fails with EINVAL there");
        File.Delete(Path.Combine(mnt, "a"));
        File.Delete(Path.Combine(mnt, "b"));
        var stale = Path.Combine(mnt, TempOf("tmpkilled", DeadPid())); // what a kill during a fallback write leaves
        File.WriteAllText(stale, "partial");
        var target = Path.Combine(mnt, "domain.xml");
        File.WriteAllText(target, "<old/>");
        File.SetUnixFileMode(target, Mode0640);

        AtomicFile.Replace(target, "<new/>"u8, durable: true);

        File.ReadAllText(target).Should().Be("<new/>");
        File.GetUnixFileMode(target).Should().Be(Mode0640);
        Directory.GetFileSystemEntries(mnt).Select(Path.GetFileName).Should()
            .BeEquivalentTo(["domain.xml", "lost+found"], "the temp file was renamed, the dead writer's swept");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4096)]
    public void A_full_file_system_fails_the_write_and_leaves_no_temp_file(int leaveFree)
    {
        RequireRoot();
        using var tmpfs = new SmallTmpfs(_dir, "64k");
        var mnt = tmpfs.Path;
        var target = Path.Combine(mnt, "state");
        File.WriteAllText(target, "old\n");
        tmpfs.Fill(leaveFree);

        FluentActions.Invoking(() => AtomicFile.Write(target, new byte[64 * 1024], durable: false, Mode0640))
            .Should().Throw<IOException>().WithMessage("cannot write the new content: No space left on device");

        File.ReadAllText(target).Should().Be("old\n");
        Directory.GetFileSystemEntries(mnt).Select(Path.GetFileName).Should().BeEquivalentTo(["state", "filler"]);
    }
}
