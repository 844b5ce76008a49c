using Largeguest.Tests.Support;
using Xunit.Abstractions;

namespace Largeguest.Tests.Reliability;

/// <summary>
/// A hostile environment around the published hook: the domain XML missing, unreadable or in a
/// read-only place, the disk full, the configuration wrong. Every case: exit 2, one clear line on
/// stderr, the domain XML exactly as it was, no temp file left. Needs root (mounts, setpriv to the
/// unprivileged user VDSM would be); fails loudly without it.
/// </summary>
[Collection(ReliabilityCollection.Name)]
public sealed class HostileEnvironmentTests(ITestOutputHelper output) : IDisposable
{
    private const int Nobody = 65534; // VDSM runs hooks as user vdsm: an unprivileged uid is what matters
    private readonly VdsmHookRunner _vdsm = new() { DefaultEnvironment = SampleHost.Environment };
    private readonly List<string> _mounts = [];
    private int _scenarios, _lost;

    public void Dispose()
    {
        foreach (var m in _mounts) { try { Native.Sh($"umount '{m}'"); } catch (InvalidOperationException) { } }
        _vdsm.Dispose();
    }

    private static readonly GoldenCase Golden = Fixtures.Case("sap-all");

    private static void RequireRoot()
    {
        if (Environment.UserName != "root" && Native.Sh("id -u").Trim() != "0")
            throw new Xunit.Sdk.XunitException("the hostile-environment tests need root (tmpfs mounts, setpriv to an " +
                "unprivileged uid); run `make test` as root");
    }

    /// <summary>A fresh tmpfs of <paramref name="size"/>, unmounted when the test ends.</summary>
    private string Tmpfs(string size)
    {
        var dir = Directory.CreateDirectory(Path.Combine(_vdsm.HooksRoot,
            "mnt-" + Guid.NewGuid().ToString("N")[..8])).FullName;
        try { Native.Sh($"mount -t tmpfs -o size={size},mode=0755 tmpfs '{dir}'"); }
        catch (InvalidOperationException e) { throw new Xunit.Sdk.XunitException($"cannot mount a tmpfs for the test " +
            $"(needs root and CAP_SYS_ADMIN): {e.Message}"); }
        _mounts.Add(dir);
        return dir;
    }

    /// <summary>One scenario: exit 2, one error line matching <paramref name="error"/>, nothing lost or left
    /// behind.</summary>
    private void Expect(string label, HookRun run, byte[] input, string error, bool fileExists = true)
    {
        _scenarios++;
        var why = $"{label}: {run}";
        run.ExitCodes.Should().Equal([2], why);
        run.Stdout.Should().BeEmpty(why);
        run.Stderr.Should().MatchRegex($"^largeguest: error: {error}[^\n]*\n$", why);
        run.Stderr.Should().NotContain("   at ", why).And.NotContain("internal error", why);
        run.LeftoverFiles.Should().BeEmpty($"no temp file is left ({why})");
        if (fileExists)
        {
            if (!run.Xml.AsSpan().SequenceEqual(input)) _lost++;
            run.Xml.Should().Equal(input, $"nothing is lost ({why})");
            run.FileUntouched.Should().BeTrue(why);
        }
        output.WriteLine($"{label}: {run.Stderr.TrimEnd()}");
    }

    private HookRun Run(HookRunOptions options, IReadOnlyDictionary<string, string>? properties = null) =>
        _vdsm.Run("before_vm_start", Golden.Input, properties ?? Golden.Properties, options);

    [Fact]
    public void Every_hostile_environment_ends_in_one_clear_error_and_loses_nothing()
    {
        RequireRoot();

        // The domain XML is gone, or is a directory.
        var missing = Run(new HookRunOptions { BeforeRun = File.Delete });
        Expect("missing _hook_domxml", missing, Golden.Input, "_hook_domxml: cannot read '", fileExists: false);
        missing.After.Should().BeNull("the hook must not create the file");
        var dir = Directory.CreateDirectory(Path.Combine(_vdsm.HooksRoot, "a-directory")).FullName;
        Expect("_hook_domxml is a directory", Run(new HookRunOptions { Environment = new Dictionary<string,
            string?> { ["_hook_domxml"] = dir } }),
            Golden.Input, "_hook_domxml: cannot read '[^']*': not a regular file but a directory", fileExists: false);
        Directory.EnumerateFileSystemEntries(dir).Should().BeEmpty();
        // A FIFO with no writer used to block open(2) for ever; the run's own time bound catches a hang.
        var fifo = Path.Combine(_vdsm.HooksRoot, "a-fifo");
        Native.Sh($"mkfifo '{fifo}'");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Expect("_hook_domxml is a FIFO without a writer", Run(new HookRunOptions { Timeout = TimeSpan.FromSeconds(10),
            Environment = new Dictionary<string, string?> { ["_hook_domxml"] = fifo } }),
            Golden.Input, "_hook_domxml: cannot read '[^']*': not a regular file but a FIFO", fileExists: false);
        clock.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(10), "the hook must not wait for a writer");
        // With a writer holding it open and XML waiting in it, the FIFO is still refused (it used to end in an internal
        // error).
        using (var writer = new FileStream(fifo, FileMode.Open,
            FileAccess.ReadWrite)) // O_RDWR: open(2) does not wait for a reader
        {
            writer.Write(Golden.Input.AsSpan(0, Math.Min(Golden.Input.Length, 4096)));
            writer.Flush();
            Expect("_hook_domxml is a FIFO with a writer and data",
                Run(new HookRunOptions { Timeout = TimeSpan.FromSeconds(10), Environment = new Dictionary<string,
                string?> { ["_hook_domxml"] = fifo } }),
                Golden.Input, "_hook_domxml: cannot read '[^']*': not a regular file but a FIFO", fileExists: false);
        }
        // A device that never ends: refused before a byte is read.
        Expect("_hook_domxml is /dev/zero", Run(new HookRunOptions { Timeout = TimeSpan.FromSeconds(10),
            Environment = new Dictionary<string, string?> { ["_hook_domxml"] = "/dev/zero" } }),
            Golden.Input, "_hook_domxml: cannot read '/dev/zero': not a regular file but a character device",
                fileExists: false);

        // Unreadable file and read-only directory, as the unprivileged user VDSM runs hooks as.
        Expect("unreadable _hook_domxml (mode 000, uid nobody)", Run(new HookRunOptions
        {
            RunAsUid = Nobody,
            BeforeRun = p => File.SetUnixFileMode(p, UnixFileMode.None),
            AfterRun = p => File.SetUnixFileMode(p, UnixFileMode.UserRead | UnixFileMode.UserWrite),
        }), Golden.Input, "_hook_domxml: cannot read '");
        Expect("read-only directory (mode 555, uid nobody)", Run(new HookRunOptions
        {
            RunAsUid = Nobody,
            BeforeRun = p => File.SetUnixFileMode(Path.GetDirectoryName(p)!, (UnixFileMode)0x16D),
            AfterRun = p => File.SetUnixFileMode(Path.GetDirectoryName(p)!, (UnixFileMode)0x1ED),
        }), Golden.Input, "_hook_domxml: cannot replace '[^']*': .*; the file is unchanged");

        // A read-only file system, as root (permissions do not stop root, EROFS does).
        var ro = Tmpfs("1m");
        Expect("read-only mount (root)", Run(new HookRunOptions
        {
            XmlDirectory = ro,
            BeforeRun = _ => Native.Sh($"mount -o remount,ro '{ro}'"),
            AfterRun = _ => Native.Sh($"mount -o remount,rw '{ro}'"),
        }), Golden.Input, "_hook_domxml: cannot replace '[^']*': .*; the file is unchanged");

        // A full disk: no room for the temp file at all, and room for only part of it.
        foreach (var (label, leaveFree) in new[] { ("disk full", 0), ("disk full mid-write (one page free)", 4096) })
        {
            var full = Tmpfs("256k");
            Expect(label, Run(new HookRunOptions
            {
                XmlDirectory = full,
                BeforeRun = _ => SmallTmpfs.Fill(full, leaveFree),
                AfterRun = _ => File.Delete(Path.Combine(full, "filler")),
            }), Golden.Input, "_hook_domxml: cannot replace '[^']*': .*; the file is unchanged");
        }

        // A configuration the hook cannot use: named by file and key.
        var configs = new Dictionary<string, (string Json, string Error)>
        {
            ["config: string for an int"] = ("""{ "Ksm": { "MemoryReservePercent": "lots" } }""",
                "Ksm:MemoryReservePercent"),
            ["config: number for a mode"] = ("""{ "NumaTune": { "DefaultMode": 3 } }""",
                "NumaTune:DefaultMode: bad value '3'"),
            ["config: bool for a policy"] = ("""{ "NumaTune": { "StrictMemory": true } }""",
                "NumaTune:StrictMemory: bad value 'true'"),
            ["config: array for a number"] = ("""{ "Ksm": { "UnmergeTimeoutSeconds": [ 1 ] } }""",
                "Ksm:UnmergeTimeoutSeconds: expected a single value"),
            ["config: value for a section"] = ("""{ "NumaTune": "strict" }""", "NumaTune: expected a section of keys"),
            ["config: not JSON"] = ("NumaTune.DefaultMode = strict\n", "malformed JSON at line 1, byte 1"),
        };
        foreach (var (label, (json, error)) in configs)
        {
            var path = Path.Combine(_vdsm.HooksRoot, $"config-{Guid.NewGuid():N}.json");
            File.WriteAllText(path, json);
            var run = Run(new HookRunOptions { Environment = new Dictionary<string,
                string?> { ["LARGEGUEST_CONFIG"] = path } });
            Expect(label, run, Golden.Input, $"{System.Text.RegularExpressions.Regex.Escape(path)}: " +
                $".*{System.Text.RegularExpressions.Regex.Escape(error)}");
        }
        var configDir = Directory.CreateDirectory(Path.Combine(_vdsm.HooksRoot, "config-dir")).FullName;
        Expect("config: path is a directory", Run(new HookRunOptions { Environment = new Dictionary<string,
            string?> { ["LARGEGUEST_CONFIG"] = configDir } }),
            Golden.Input, $"{System.Text.RegularExpressions.Regex.Escape(configDir)}: a directory, not a file");
        var secret = Path.Combine(_vdsm.HooksRoot, "unreadable.json");
        File.WriteAllText(secret, "{}");
        File.SetUnixFileMode(secret, UnixFileMode.None);
        Expect("config: unreadable (uid nobody)", Run(new HookRunOptions
        {
            RunAsUid = Nobody,
            Environment = new Dictionary<string, string?> { ["LARGEGUEST_CONFIG"] = secret },
        }), Golden.Input, $"{System.Text.RegularExpressions.Regex.Escape(secret)}: cannot read");
        Expect("config: wrong type in an environment override", Run(new HookRunOptions
        {
            Environment = new Dictionary<string, string?> { ["LARGEGUEST__Ksm__LockTimeoutSeconds"] = "soon" },
        }), Golden.Input, ".*Ksm:LockTimeoutSeconds");

        Figures.Report(output, $"hostile environment: {_scenarios} scenarios (missing/unreadable/directory " +
            $"_hook_domxml, read-only directory and mount, " +
            $"full disk, bad config), files lost or changed = {_lost}, temp files left = 0");
        _lost.Should().Be(0);
    }
}
