using System.Diagnostics;
using System.Text.RegularExpressions;
using Largeguest.Tests.Support;

namespace Largeguest.Tests.ProcessLevel;

/// <summary>
/// Which replacements fsync (docs/design.md section 3), seen from the published binary's system calls under strace:
/// VDSM's <c>_hook_domxml</c> is renamed into place without an fsync (VDSM reads it back at once and deletes it),
/// an admin's file replaced by <c>largeguest apply</c> is fsynced before the rename. Both are written into an unnamed
/// <c>O_TMPFILE</c> that is linked to its temp name only when complete, then swapped with the target in one
/// <c>renameat2(RENAME_EXCHANGE)</c>, and the temp name, which then holds the old content, is unlinked.
/// </summary>
public sealed class DurabilityTests : IDisposable
{
    private const string Strace = "/usr/bin/strace";
    private const string Traced =
        "fsync,fdatasync,sync_file_range,syncfs,rename,renameat,renameat2,open,openat,linkat,write,unlink,unlinkat";
    private readonly string _dir = Directory.CreateTempSubdirectory("largeguest-durability-").FullName;

    public void Dispose() { try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } }

    private static void RequireStrace() =>
        File.Exists(Strace).Should().BeTrue($"{Strace} is needed to see the hook's system calls (`make deps` " +
            $"installs strace)");

    private static string[] Calls(string log, string name) =>
        File.ReadAllLines(log).Where(l => l.Contains(name + "(", StringComparison.Ordinal)).ToArray();

    /// <summary>
    /// The replacement's system calls in order: an unnamed file opened in the target's directory, the content written
    /// to that descriptor, (fsync when <paramref name="durable"/>), linkat to a temp name, one swap of that name with
    /// the target, the temp name (now the old content) unlinked.
    /// </summary>
    private static void ExpectUnnamedThenLinkedThenSwapped(string log, string target, bool durable)
    {
        var lines = File.ReadAllLines(log);
        var all = string.Join('\n', lines);
        var dir = Path.GetDirectoryName(target)!;
        var open = Array.FindIndex(lines,
            l => l.Contains($"\"{dir}\"", StringComparison.Ordinal)
                 && l.Contains("O_TMPFILE", StringComparison.Ordinal));
        open.Should().BeGreaterThanOrEqualTo(0, "the new content goes into an unnamed file in {0}: {1}", dir, all);
        var fd = Regex.Match(lines[open], @"= (\d+)$").Groups[1].Value;
        fd.Should().NotBeEmpty("the O_TMPFILE open succeeds: {0}", lines[open]);
        var link = Array.FindIndex(lines, open, l => l.Contains("linkat(", StringComparison.Ordinal));
        link.Should().BeGreaterThan(open, "the unnamed file is given a name: {0}", all);
        lines[link].Should().Contain($"\"/proc/self/fd/{fd}\"").And.Contain("AT_SYMLINK_FOLLOW").And.EndWith("= 0");
        var writes = lines.Skip(open).Take(link - open)
            .Where(l => l.Contains($"write({fd},", StringComparison.Ordinal)).ToList();
        writes.Should().NotBeEmpty("the content is written before the file has a name: {0}", all);
        var renames = lines.Select((l, i) => (l, i))
            .Where(x => x.l.Contains("rename", StringComparison.Ordinal)).ToList();
        renames.Should().ContainSingle("the replacement is one rename of the temp file: {0}", all);
        renames[0].i.Should().BeGreaterThan(link);
        var temp = Regex.Match(lines[link], @"AT_FDCWD, ""([^""]+)"", AT_SYMLINK_FOLLOW").Groups[1].Value;
        Path.GetFileName(temp).Should()
            .MatchRegex($@"^\.{Regex.Escape(Path.GetFileName(target))}\.largeguest-\d+-[0-9a-f]{{8}}\.tmp$");
        renames[0].l.Should().Contain($"renameat2(AT_FDCWD, \"{temp}\", AT_FDCWD, \"{target}\", RENAME_EXCHANGE) = 0");
        var unlink = Array.FindIndex(lines, renames[0].i,
            l => l.Contains($"unlink(\"{temp}\") = 0", StringComparison.Ordinal));
        unlink.Should().BeGreaterThan(renames[0].i, "the old content, swapped to the temp name, is removed: {0}", all);
        var fsync = Array.FindIndex(lines,
            l => l.Contains($"fsync({fd})", StringComparison.Ordinal)
                 || l.Contains($"fdatasync({fd})", StringComparison.Ordinal));
        if (durable) fsync.Should().BeInRange(open + 1, link - 1, "the data is on disk before it has a name: {0}", all);
        else fsync.Should().Be(-1);
    }

    [Fact]
    public void The_hook_renames_VDSM_s_file_into_place_without_fsync()
    {
        RequireStrace();
        var log = Path.Combine(_dir, "hook.strace");
        // VDSM runs 50_largeguest; argv[0] (the hook point) must stay that path, so bash's exec -a keeps it under
        // strace.
        var wrapper = Path.Combine(_dir, "traced-hook");
        VdsmHookRunner.WriteScript(wrapper,
            $"exec {Strace} -f -qq -o '{log}' -e trace={Traced} -- /bin/bash -c 'exec -a \"$0\" " +
                $"\"{PublishedBinary.Path}\"' \"$0\"");
        using var vdsm = new VdsmHookRunner(wrapper) { DefaultEnvironment = SampleHost.Environment };
        var golden = Fixtures.Case("sap-all");

        var run = vdsm.Run("before_vm_start", golden.Input, golden.Properties);

        run.ExitCodes.Should().Equal([0], run.ToString());
        run.Xml.Should().Equal(File.ReadAllBytes(golden.ExpectedPath));
        run.After!.Inode.Should().NotBe(run.Before!.Inode, "the new XML still replaces the file by rename");
        var text = File.ReadAllText(log);
        ExpectUnnamedThenLinkedThenSwapped(log, run.XmlPath, durable: false);
        Calls(log, "fsync").Concat(Calls(log, "fdatasync")).Concat(Calls(log, "sync_file_range")).Concat(Calls(log,
            "syncfs"))
            .Should().BeEmpty("VDSM's temp file needs no flush to disk: {0}", text);
    }

    [Fact]
    public async Task Apply_fsyncs_the_admin_s_file_before_the_rename()
    {
        RequireStrace();
        var log = Path.Combine(_dir, "apply.strace");
        var golden = Fixtures.Case("sap-all");
        var domain = Path.Combine(_dir, "domain.xml");
        File.WriteAllBytes(domain, golden.Input);
        var config = Path.Combine(_dir, "config.json");
        File.WriteAllText(config, "{}\n");
        var start = new ProcessStartInfo(Strace)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in new[] { "-f", "-qq", "-o", log, "-e", "trace=" + Traced, "--", PublishedBinary.Path, "apply",
            domain })
            start.ArgumentList.Add(a);
        foreach (var (name, value) in golden.Properties)
        {
            start.ArgumentList.Add("--set");
            start.ArgumentList.Add($"{name}={value}");
        }
        start.Environment.Clear();
        foreach (var (k, v) in VdsmHookRunner.HermeticEnvironment(config)) start.Environment[k] = v;
        foreach (var (k, v) in SampleHost.Environment) start.Environment[k] = v;

        using var p = Process.Start(start)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
            await p.WaitForExitAsync(timeout.Token);

        p.ExitCode.Should().Be(0, await stderr);
        File.ReadAllBytes(domain).Should().Equal(File.ReadAllBytes(golden.ExpectedPath));
        ExpectUnnamedThenLinkedThenSwapped(log, domain, durable: true); // an admin's file must survive a power loss
        Directory.GetFiles(_dir).Should().BeEquivalentTo([domain, config, log], "no temp file is left");
        (await stdout).Should().NotBeEmpty("apply prints its diff");
    }
}
