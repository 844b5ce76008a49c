using System.Diagnostics;
using Largeguest.Tests.Support;
using Xunit.Abstractions;

namespace Largeguest.Tests.Ksm;

/// <summary>
/// The non-root path for real: the hook runs as user vdsm (created for the test when missing), calls itself
/// through <c>sudo -n</c> under the shipped sudoers rule (installed as a test drop-in naming a test copy of the
/// binary), and the privileged entry changes KSM as root. Everything created is removed afterwards.
/// </summary>
[Collection(RealKsmCollection.Name)]
public sealed class KsmSudoTests : IDisposable
{
    /// <summary>A VM id of this test alone: the privileged entry's state directory is the host's, shared with other
    /// suites.</summary>
    private readonly string Vm = Guid.NewGuid().ToString();
    private const string Shipped = "/usr/libexec/vdsm-hook-largeguest/largeguest";
    private readonly ITestOutputHelper _out;
    private readonly string _dir;
    private readonly string _binary;
    private readonly string _sudoers = $"/etc/sudoers.d/zz_largeguest_test_{Environment.ProcessId}";
    private readonly bool _createdUser;
    private readonly bool _stateDirExisted = Directory.Exists(KsmPrivilegedPaths.StateDir);
    private readonly string _xmlDir;

    private static readonly UnixFileMode Open755 = (UnixFileMode)Convert.ToInt32("755", 8);

    public KsmSudoTests(RealKsm ksm, ITestOutputHelper output)
    {
        _ = ksm;
        _out = output;
        if (!Environment.IsPrivilegedProcess) throw new InvalidOperationException("THE SUDO PATH TEST NEEDS ROOT to " +
            "create its user and sudoers drop-in; not skipping");
        foreach (var tool in new[] { "/usr/bin/sudo", "/usr/sbin/visudo", "/usr/bin/setpriv", "/usr/sbin/useradd" })
            if (!File.Exists(tool))
                throw new InvalidOperationException($"THE SUDO PATH TEST NEEDS {tool}; not skipping");
        RealKsm.Baseline(mergeAcrossNodes: true, run: 0);

        if (Sh("id -u vdsm").ExitCode != 0)
        {
            Sh("useradd --system --no-create-home --shell /usr/sbin/nologin vdsm").ExitCode.Should().Be(0);
            _createdUser = true;
        }
        // A root-owned install tree the vdsm user can traverse, like /usr/libexec on a host.
        _dir = Path.Combine("/tmp", $"largeguest-sudo-{Environment.ProcessId}-{Random.Shared.Next():x6}");
        Directory.CreateDirectory(_dir, Open755);
        Directory.CreateDirectory(Path.Combine(_dir, "libexec"), Open755);
        _binary = Path.Combine(_dir, "libexec", "largeguest");
        File.Copy(PublishedBinary.Path, _binary);
        File.SetUnixFileMode(_binary, Open755);
        foreach (var point in new[] { "before_vm_start", "after_vm_destroy" })
        {
            Directory.CreateDirectory(Path.Combine(_dir, "hooks", point), Open755);
            File.CreateSymbolicLink(Hook(point), _binary); // as the RPM does: the hook is a symlink to the real binary
        }
        _xmlDir = Path.Combine(_dir, "vdsm");
        Directory.CreateDirectory(_xmlDir, Open755);
        File.Copy(KsmProcesses.SampleXml, Path.Combine(_xmlDir, "domain.xml"));
        Sh($"chown -R vdsm {_xmlDir}").ExitCode.Should().Be(0);

        // The shipped rule, pointed at the test copy of the binary.
        var rule = File.ReadAllText(Path.Combine(PublishedBinary.RepoRoot, "packaging",
            "50_vdsm_hook_largeguest.sudoers"));
        rule.Should().Contain(Shipped);
        var staged = Path.Combine(_dir, "sudoers");
        File.WriteAllText(staged, rule.Replace(Shipped, _binary));
        Run("/usr/sbin/visudo", "-cf", staged).ExitCode.Should().Be(0);
        File.Copy(staged, _sudoers);
        File.SetUnixFileMode(_sudoers, UnixFileMode.UserRead | UnixFileMode.GroupRead);
    }

    public void Dispose()
    {
        // Every step runs even when an earlier one fails; the first failure is reported afterwards.
        var errors = new List<Exception>();
        void Step(Action a) { try { a(); } catch (Exception e) { errors.Add(e); } }
        Step(() => File.Delete(_sudoers));
        Step(() => { var r = Path.Combine(KsmPrivilegedPaths.Requests, Vm); if (File.Exists(r)) File.Delete(r); });
        Step(() =>
        {
            if (!_stateDirExisted && Directory.Exists(KsmPrivilegedPaths.StateDir))
                Directory.Delete(KsmPrivilegedPaths.StateDir, recursive: true);
        });
        Step(() => Directory.Delete(_dir, recursive: true));
        if (_createdUser) Step(() => Sh("userdel vdsm").ExitCode.Should().Be(0));
        if (errors.Count > 0) throw new AggregateException("cleaning up after the sudo test", errors);
    }

    private string Hook(string point) => Path.Combine(_dir, "hooks", point, "50_largeguest");

    private static KsmProcesses.Result Sh(string command) => Run("/bin/sh", "-c", command);

    private static KsmProcesses.Result Run(string program, params string[] args) => KsmProcesses.Run(program,
        new Dictionary<string, string>(), args);

    /// <summary>Runs a program as vdsm with exactly this environment, as VDSM (user vdsm) runs hooks.</summary>
    private static KsmProcesses.Result AsVdsm(Dictionary<string, string> env, string program, params string[] args) =>
        KsmProcesses.Run("/usr/bin/setpriv", env, ["--reuid=vdsm", "--regid=vdsm", "--clear-groups", "--", program,
            .. args]);

    private Dictionary<string, string> HookEnv(string ksm) => new()
    {
        ["_hook_domxml"] = Path.Combine(_xmlDir, "domain.xml"),
        ["vmId"] = Vm,
        ["ksm_merge_across_nodes"] = ksm,
        ["LARGEGUEST__Ksm__OnFailure"] = "fail",
        ["LARGEGUEST__Topology__Source"] = "sysfs", // about KSM, not about whether libvirtd runs here
    };

    [Fact]
    public void The_hook_as_vdsm_changes_KSM_through_sudo_and_releases_at_destroy()
    {
        using var pages = new MergeablePages(64);
        RealKsm.MergeNow(pages, runAfter: 0);
        AsVdsm([], "/usr/bin/id", "-u").Stdout.Trim().Should().NotBe("0", "the hook must really run unprivileged");

        using var syslog = new SyslogCapture();
        var clock = Stopwatch.StartNew();
        var start = AsVdsm(HookEnv("0"), Hook("before_vm_start"));
        _out.WriteLine($"hook as vdsm through sudo (64 MiB unmerge): {clock.ElapsedMilliseconds} ms; stderr: " +
            $"{start.Stderr}");
        start.ExitCode.Should().Be(0, start.Stderr);
        start.StderrLines.Should().ContainSingle().Which
            .Should().StartWith("largeguest: note: ksm: merge_across_nodes 1 -> 0").And.Contain("unmerged");
        (RealKsm.Read("merge_across_nodes"), RealKsm.Read("run"), RealKsm.Number("pages_shared"))
            .Should().Be(("0", "0", 0L));
        var request = Path.Combine(KsmPrivilegedPaths.Requests, Vm);
        File.Exists(request).Should().BeTrue(
            "the privileged entry registered the request in the fixed state directory");
        Sh($"stat -c %U {request}").Stdout.Trim().Should().Be("root");
        syslog.Ours().Should().ContainSingle("the root helper's host-wide change is one syslog record (sudo logs " +
            "nothing: !syslog)")
            .Which.Should()
            .MatchRegex($@"^<29>largeguest\[\d+\]: VM {Vm} reconcile: ksm: merge_across_nodes 1 -> 0 .*unmerged");

        var destroy = AsVdsm(HookEnv("0"), Hook("after_vm_destroy"));
        destroy.ExitCode.Should().Be(0, destroy.Stderr);
        destroy.Stderr.Should().BeEmpty();
        File.Exists(request).Should().BeFalse();
        RealKsm.Read("merge_across_nodes").Should().Be("0");
        syslog.Ours().Should().BeEmpty("a release leaves the host's KSM settings alone: nothing to record");
    }

    /// <summary>The host's syslog socket, bound by the test: this machine runs no syslog daemon, so the test is
    /// it.</summary>
    private sealed class SyslogCapture : IDisposable
    {
        private readonly System.Net.Sockets.Socket _socket = new(System.Net.Sockets.AddressFamily.Unix,
            System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Unspecified);

        public SyslogCapture()
        {
            if (Path.Exists(Largeguest.IO.Syslog.SocketPath))
                throw new InvalidOperationException($"{Largeguest.IO.Syslog.SocketPath} exists (a syslog daemon runs " +
                    $"here): this test binds its own to read the records; stop it or run on a host without one");
            _socket.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(Largeguest.IO.Syslog.SocketPath));
            File.SetUnixFileMode(Largeguest.IO.Syslog.SocketPath, (UnixFileMode)0x1B6); // 0666: as journald's
            _socket.Blocking = false;
        }

        /// <summary>The records tagged largeguest since the last call (sudo and PAM write here too).</summary>
        public List<string> Ours() => Drain()
            .Where(r => System.Text.RegularExpressions.Regex.IsMatch(r, @"^<\d+>largeguest\[")).ToList();

        private List<string> Drain()
        {
            var records = new List<string>();
            var buffer = new byte[8192];
            while (true)
            {
                try { records.Add(System.Text.Encoding.UTF8.GetString(buffer, 0, _socket.Receive(buffer))); }
                catch (System.Net.Sockets.SocketException e)
                    when (e.SocketErrorCode == System.Net.Sockets.SocketError.WouldBlock) { return records; }
            }
        }

        public void Dispose()
        {
            _socket.Dispose();
            File.Delete(Largeguest.IO.Syslog.SocketPath);
        }
    }

    [Theory]
    [InlineData("ksm reconcile --vm {vm} --merge-across-nodes 0 --extra")]
    [InlineData("ksm reconcile --vm {vm} --merge-across-nodes 2")]
    [InlineData("ksm reconcile --vm not-a-uuid-not-a-uuid-not-a-uuid-xxxx --merge-across-nodes 0")]
    [InlineData("ksm reconcile --vm {vm} --merge-across-nodes 0 --vm {vm}")]
    [InlineData("ksm status")]
    [InlineData("check cputune=0#0")]
    public void Sudo_lets_vdsm_run_nothing_but_the_fixed_forms(string args)
    {
        var r = AsVdsm([], "/usr/bin/sudo", ["-n", _binary, .. args.Replace("{vm}", Vm).Split(' ')]);
        r.ExitCode.Should().NotBe(0);
        r.Stderr.Should().StartWith("sudo: ", "sudo itself refuses before the binary runs");
        File.Exists(Path.Combine(KsmPrivilegedPaths.Requests, Vm)).Should().BeFalse();
        RealKsm.Read("merge_across_nodes").Should().Be("1");
    }

    [Fact]
    public void Without_sudo_the_privileged_entry_refuses_to_run_unprivileged()
    {
        var r = AsVdsm([], _binary, "ksm", "reconcile", "--vm", Vm, "--merge-across-nodes", "0");
        r.ExitCode.Should().Be(2);
        r.StderrLines.Should().Equal($"largeguest: error: 'largeguest ksm reconcile --vm {Vm} --merge-across-nodes " +
            $"0' must run as root (the hook runs it through sudo -n)");
    }

    [Fact]
    public void Without_the_sudoers_rule_the_hook_fails_by_policy_with_a_pointer_to_the_rule()
    {
        File.Delete(_sudoers);
        var before = File.ReadAllBytes(Path.Combine(_xmlDir, "domain.xml"));
        var env = HookEnv("0");
        env["cputune"] = "0#0";
        var r = AsVdsm(env, Hook("before_vm_start"));
        r.ExitCode.Should().Be(2);
        r.StderrLines.Should().ContainSingle().Which
            .Should().StartWith("largeguest: error: ksm_merge_across_nodes: the privileged helper did not run")
            .And.Contain("/etc/sudoers.d/50_vdsm_hook_largeguest").And.Contain(_binary);
        File.ReadAllBytes(Path.Combine(_xmlDir, "domain.xml")).Should().Equal(before);
    }

    [Fact]
    public void The_shipped_sudoers_rule_is_valid_for_visudo()
    {
        var r = Run("/usr/sbin/visudo", "-cf", Path.Combine(PublishedBinary.RepoRoot, "packaging",
            "50_vdsm_hook_largeguest.sudoers"));
        r.ExitCode.Should().Be(0, r.Stdout + r.Stderr);
        r.Stdout.Should().Contain("parsed OK");
    }
}
