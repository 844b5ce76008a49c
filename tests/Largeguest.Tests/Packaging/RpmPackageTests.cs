using System.Globalization;
using Largeguest.Hook;
using Xunit.Abstractions;

namespace Largeguest.Tests.Packaging;

/// <summary>The binary RPM that <c>make rpm</c> builds: its metadata, its files, and the package installed into a
/// scratch root.</summary>
[Collection(RpmCollection.Name)]
public class RpmPackageTests(RpmFixture rpm, ITestOutputHelper output)
{
    private const string Binary = "/usr/libexec/vdsm-hook-largeguest/largeguest";
    private const string Config = "/etc/vdsm-hook-largeguest/largeguest.json";
    private const string DropInDir = "/etc/vdsm-hook-largeguest/largeguest.d";
    private const string Sudoers = "/etc/sudoers.d/50_vdsm_hook_largeguest";
    private const string HookLinkTarget = "../../../vdsm-hook-largeguest/largeguest";

    private const string BinLinkTarget = "../libexec/vdsm-hook-largeguest/largeguest";
    private static readonly string DocDir = $"/usr/share/doc/{RpmFixture.Name}";

    /// <summary>The README's docs/*.md links, but ksmtune.md, which the ksmtune subpackage ships.</summary>
    private static readonly string[] MainPackageDocs =
        ["admin.md", "configuration.md", "design.md", "e2e.md", "engine-config.md", "grammar.md", "ksm.md",
            "packaging.md", "topology.md", "vdsm-and-mom.md"];

    /// <summary>Every file of the package: mode, owner, group, path, symlink target.</summary>
    private static IEnumerable<string> ExpectedFiles()
    {
        yield return $"-r--r----- root root {Sudoers} ";
        yield return "drwxr-xr-x root root /etc/vdsm-hook-largeguest ";
        yield return "-rw-r--r-- root root /etc/vdsm/mom.d/02-largeguest.policy ";
        yield return $"-rw-r--r-- root root {Config} ";
        yield return $"drwxr-xr-x root root {DropInDir} ";
        yield return "drwxr-xr-x root root /run/vdsm-hook-largeguest ";
        yield return "-rw-r--r-- root root /usr/lib/tmpfiles.d/vdsm-hook-largeguest.conf ";
        yield return "drwxr-xr-x root root /usr/libexec/vdsm-hook-largeguest ";
        yield return $"-rwxr-xr-x root root {Binary} ";
        yield return $"lrwxrwxrwx root root /usr/bin/largeguest {BinLinkTarget}";
        foreach (var point in HookPoints.DirectoryNames)
            yield return $"lrwxrwxrwx root root /usr/libexec/vdsm/hooks/{point}/50_largeguest {HookLinkTarget}";
        yield return $"drwxr-xr-x root root {DocDir} ";
        foreach (var doc in new[] { "README.md", "engine-properties.txt" })
            yield return $"-rw-r--r-- root root {DocDir}/{doc} ";
        yield return $"drwxr-xr-x root root {DocDir}/docs ";
        foreach (var doc in MainPackageDocs)
            yield return $"-rw-r--r-- root root {DocDir}/docs/{doc} ";
        yield return $"drwxr-xr-x root root /usr/share/licenses/{RpmFixture.Name} ";
        yield return $"-rw-r--r-- root root /usr/share/licenses/{RpmFixture.Name}/LICENSE ";
    }

    [Fact]
    public void Make_rpm_builds_the_package_named_after_the_version()
    {
        rpm.Build.ExitCode.Should().Be(0, $"`make rpm` must succeed:\n{rpm.Build}");
        File.Exists(rpm.RpmPath).Should().BeTrue($"make rpm must leave {rpm.RpmPath}");
        output.WriteLine($"make rpm: {rpm.RpmPath}, {rpm.Size} bytes, built in {rpm.BuildTime.TotalSeconds:F1} s");

        RpmFixture.Query("-qp", "--qf", "%{NAME} %{VERSION} %{RELEASE} %{ARCH} %{LICENSE} %{PAYLOADCOMPRESSOR}",
            rpm.RpmPath)
            .Should().Be($"{RpmFixture.Name} {rpm.Version} 1 x86_64 Apache-2.0 zstd");
        RpmFixture.Query("-qp", "--changelog", rpm.RpmPath).Split('\n')[0]
            .Should().EndWith($"- {rpm.Version}-{rpm.Release}",
            "the newest changelog entry names the version being packaged (bump both together)");
    }

    [Fact]
    public void Files_modes_and_links_are_exactly_the_documented_ones()
    {
        var listed = RpmFixture.Query("-qp", "--qf", "[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} " +
            "%{FILENAMES} %{FILELINKTOS}\n]", rpm.RpmPath)
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd());
        listed.Should().BeEquivalentTo(ExpectedFiles().Select(l => l.TrimEnd()));
        RpmFixture.Query("-qlp", rpm.RpmPath).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Should().HaveCount(ExpectedFiles().Count(), "rpm -qlp lists the same files");
    }

    [Fact]
    public void Config_files_license_and_docs_are_marked_as_such()
    {
        RpmFixture.Query("-qp", "--configfiles", rpm.RpmPath).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Should().BeEquivalentTo([Config, Sudoers]);
        var flags = RpmFixture.Query("-qp", "--qf", "[%{FILENAMES} %{FILEFLAGS:fflags}\n]", rpm.RpmPath)
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ')).ToDictionary(f => f[0], f => f.Length > 1 ? f[1] : "");
        flags[Config].Should().Be("cn", "the configuration is %config(noreplace): an administrator's edits survive " +
            "upgrades");
        flags[Sudoers].Should().Be("c", "the sudoers rule is %config without noreplace: it must follow the binary's " +
            "argument forms");
        flags[$"/usr/share/licenses/{RpmFixture.Name}/LICENSE"].Should().Be("l");
        flags[$"{DocDir}/docs/engine-config.md"].Should().Be("d");
        flags[$"{DocDir}/README.md"].Should().Be("d");
        flags["/etc/vdsm/mom.d/02-largeguest.policy"]
            .Should().Be("g", "the MoM policy file is %ghost: owned, written by the KSM helper");
    }

    [Fact]
    public void Dependencies_are_declared_by_hand()
    {
        var requires = RpmFixture.Query("-qp", "--requires", rpm.RpmPath).Split('\n',
            StringSplitOptions.RemoveEmptyEntries)
            .Where(r => !r.StartsWith("rpmlib(", StringComparison.Ordinal));
        requires.Should().BeEquivalentTo(["vdsm", "libvirt-libs", "sudo", $"glibc >= " +
            $"{GlibcTests.NewestGlibcVersion(Repo.PublishedBinary)}"],
            "dependency generation is off: nothing generated, nothing missing (libvirt.so.0 is loaded with dlopen)");
        RpmFixture.Query("-qp", "--recommends", rpm.RpmPath).Trim().Should().Be("numad");
        RpmFixture.Query("-qp", "--provides", rpm.RpmPath).Split('\n')
            .Should().BeEquivalentTo([$"{RpmFixture.Name} = {rpm.Version}-1", $"{RpmFixture.Name}(x86-64) = " +
                $"{rpm.Version}-1"]);
    }

    [Fact]
    public void Installed_hook_rewrites_a_domain_when_run_through_its_before_vm_start_link()
    {
        using var root = new ScratchRoot();
        root.Install(rpm.RpmPath);

        File.ReadAllBytes(root[Binary])
            .Should().Equal(File.ReadAllBytes(Repo.PublishedBinary), "the package carries the published binary");
        foreach (var point in HookPoints.DirectoryNames)
        {
            var link = root[$"/usr/libexec/vdsm/hooks/{point}/50_largeguest"];
            new FileInfo(link).LinkTarget.Should().Be(HookLinkTarget);
            Path.GetFullPath(Path.Combine(Path.GetDirectoryName(link)!, HookLinkTarget)).Should().Be(root[Binary]);
        }
        Directory.Exists(root["/run/vdsm-hook-largeguest"])
            .Should().BeTrue("the state directory exists right after install");
        File.ReadAllText(root["/usr/lib/tmpfiles.d/vdsm-hook-largeguest.conf"]).Should()
            .Contain("d /run/vdsm-hook-largeguest 0755 root root -")
            .And.Contain("r! /etc/vdsm/mom.d/02-largeguest.policy", "the MoM policy goes at boot with the request " +
                "registry");
        File.Exists(root["/etc/vdsm/mom.d/02-largeguest.policy"])
            .Should().BeFalse("the MoM policy is owned (%ghost), never shipped");

        var domain = root["/tmp/domain.xml"];
        Directory.CreateDirectory(Path.GetDirectoryName(domain)!);
        File.Copy(Repo.PathOf("samples/ovirt-db01.xml"), domain);
        var run = root.RunHook("before_vm_start", domain, new() { ["cputune"] = "0#0-1,1#1,emulator#0" });
        run.ExitCode.Should().Be(0, $"the installed hook must succeed:\n{run}");
        run.Stderr.Should().NotContain("error")
            .And.NotContain("unknown key", "the shipped configuration has no unknown keys");
        var xml = File.ReadAllText(domain);
        xml.Should().Contain("<vcpupin vcpu=\"0\" cpuset=\"0-1\" />").And.Contain("<vcpupin vcpu=\"1\" cpuset=\"1\" />")
            .And.Contain("<emulatorpin cpuset=\"0\" />");

        Directory.GetFileSystemEntries(root[DropInDir]).Should().BeEmpty("the drop-in directory is shipped empty");
        File.WriteAllText(root[$"{DropInDir}/50-site.json"], """{ "NumaTune": { "DefaultMode": "fastest" } }""");
        var refused = root.RunHook("before_vm_start", domain, new() { ["cputune"] = "0#1" });
        refused.ExitCode.Should().Be(2, $"the installed hook reads largeguest.d:\n{refused}");
        refused.Stderr.Should().Contain($"{root[DropInDir]}/50-site.json: NumaTune:DefaultMode: bad value 'fastest'");
        File.ReadAllText(domain).Should().Be(xml, "a configuration error leaves the domain untouched");
        File.Delete(root[$"{DropInDir}/50-site.json"]);

        var destroy = root.RunHook("after_vm_destroy", domain, new() { ["cputune"] = "0#0-1" });
        destroy.ExitCode.Should().Be(0, $"the after_vm_destroy link runs the same binary:\n{destroy}");
        File.ReadAllText(domain).Should().Be(xml, "after_vm_destroy does not touch the domain XML");
    }

    [Fact]
    public void Installed_largeguest_on_the_path_is_the_cli_and_every_readme_link_resolves_under_the_doc_dir()
    {
        using var root = new ScratchRoot();
        root.Install(rpm.RpmPath);
        root.Install(Repo.PathOf($"out/{RpmFixture.Name}-ksmtune-{rpm.Version}-{rpm.Release}.x86_64.rpm"));

        var onPath = root["/usr/bin/largeguest"];
        Path.GetFullPath(Path.Combine("/usr/bin", new FileInfo(onPath).LinkTarget!)).Should().Be(Binary);
        var help = Tool.Run(onPath, ["--help"]);
        help.ExitCode.Should().Be(0, $"`largeguest --help` from the admin's PATH:\n{help}");
        help.Stdout.Should().Contain("check").And.Contain("ksm");

        var readme = File.ReadAllText(root[$"{DocDir}/README.md"]);
        var links = System.Text.RegularExpressions.Regex.Matches(readme, @"\]\((docs/[^)#]+)")
            .Select(m => m.Groups[1].Value).Distinct().ToList();
        links.Should().NotBeEmpty("the README links its docs");
        foreach (var link in links)
            File.Exists(root[$"{DocDir}/{link}"]).Should().BeTrue($"the README's link {link} must work under {DocDir}");
    }

    [Fact]
    public void Sudoers_rule_is_valid_for_visudo_in_the_tree_and_as_installed()
    {
        var visudo = Tool.Require("visudo", "sudo");
        Tool.Check(visudo, "-cf", Repo.PathOf("packaging/50_vdsm_hook_largeguest.sudoers"));

        using var root = new ScratchRoot();
        root.Install(rpm.RpmPath);
        var installed = root[Sudoers];
        File.GetUnixFileMode(installed)
            .Should().Be(UnixFileMode.UserRead | UnixFileMode.GroupRead, "sudo ignores rules files that are not " +
            "0440-like");
        Tool.Check(visudo, "-cf", installed);
        File.ReadAllText(installed).Should().Be(Repo.ReadText("packaging/50_vdsm_hook_largeguest.sudoers"));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Upgrade_keeps_an_edited_config(bool newVersionChangesTheConfig)
    {
        using var root = new ScratchRoot();
        root.Install(rpm.RpmPath);
        var config = root[Config];
        var edited = File.ReadAllText(config).Replace("\"OnFailure\": \"warn\"", "\"OnFailure\": \"fail\"",
            StringComparison.Ordinal);
        edited.Should().NotBe(File.ReadAllText(config), "the edit must change the file");
        File.WriteAllText(config, edited);
        var dropIn = root[$"{DropInDir}/50-site.json"];
        File.WriteAllText(dropIn, """{ "Ksm": { "LockTimeoutSeconds": 60 } }""");

        using var work = new ScratchDir();
        var shipped = Repo.ReadText("packaging/largeguest.json");
        var next = newVersionChangesTheConfig
            ? shipped.Replace("\"LockTimeoutSeconds\": 30", "\"LockTimeoutSeconds\": 45", StringComparison.Ordinal)
            : shipped;
        if (newVersionChangesTheConfig) next.Should().NotBe(shipped);
        File.WriteAllText(work["largeguest.json"], next);
        var nextVersion = NextVersion(rpm.Version);
        var build = RpmFixture.Make(["rpm", $"RPM_VERSION={nextVersion}", $"RPM_OUTDIR={work["out"]}",
            $"RPM_TOPDIR={work["top"]}", $"RPM_CONFIG={work["largeguest.json"]}"]);
        build.ExitCode.Should().Be(0, $"make rpm for version {nextVersion} must succeed:\n{build}");
        var upgrade = work[$"out/{RpmFixture.Name}-{nextVersion}-1.x86_64.rpm"];

        root.Upgrade(upgrade);

        root.Query("-q", RpmFixture.Name).Trim().Should().Be($"{RpmFixture.Name}-{nextVersion}-1.x86_64");
        File.ReadAllText(config).Should().Be(edited, "%config(noreplace) keeps the administrator's file");
        if (newVersionChangesTheConfig)
            File.ReadAllText(config + ".rpmnew").Should().Be(next, "the new version's defaults land beside it");
        else
            File.Exists(config + ".rpmnew").Should().BeFalse("an unchanged packaged config leaves no .rpmnew behind");
        File.ReadAllText(dropIn).Should().Be("""{ "Ksm": { "LockTimeoutSeconds": 60 } }""",
            "the admin's drop-ins are not the package's files");
    }

    private static string NextVersion(string version)
    {
        var parts = version.Split('.');
        parts[^1] = (int.Parse(parts[^1], CultureInfo.InvariantCulture) + 1).ToString(CultureInfo.InvariantCulture);
        return string.Join('.', parts);
    }
}

/// <summary>An empty directory used as rpm's --root: the package installed there, its hook run from there.</summary>
internal sealed class ScratchRoot : IDisposable
{
    private readonly ScratchDir _dir = new();
    private readonly string _rpm = Tool.Require("rpm", "rpm");

    public ScratchRoot()
    {
        if (Environment.UserName != "root" && Tool.Run("id", ["-u"]).Stdout.Trim() != "0")
            throw new InvalidOperationException("installing into a scratch root with `rpm --root` needs root: run " +
                "the tests as root (`make test` does)");
    }

    public string Path => _dir.Path;
    public string this[string absolute] => _dir[absolute];

    // Debian's rpm warns that Alien should be used; --nodeps: vdsm, libvirt-libs... are EL packages.
    public void Install(string package) => Check(["--root", Path, "-i", "--nodeps", package]);
    public void Upgrade(string package) => Check(["--root", Path, "-U", "--nodeps", package]);
    public string Query(params string[] args) => Check(["--root", Path, .. args]).Stdout;

    private ToolResult Check(string[] args)
    {
        var result = Tool.Run(_rpm, args);
        result.ExitCode.Should().Be(0, $"rpm {string.Join(' ', args)} must succeed:\n{result}");
        return result;
    }

    /// <summary>Runs the installed hook the way VDSM does: through the hook point's link, a minimal
    /// environment.</summary>
    public ToolResult RunHook(string hookPoint, string domainXml, Dictionary<string, string> properties)
    {
        var env = new Dictionary<string, string>(properties)
        {
            ["PATH"] = "/usr/bin:/bin",
            ["_hook_domxml"] = domainXml,
            ["vmId"] = "5a7f0c2e-1b3d-4e8f-9a6b-0c1d2e3f4a5b",
            ["LARGEGUEST_CONFIG"] = this["/etc/vdsm-hook-largeguest/largeguest.json"],
        };
        return Tool.Run(this[$"/usr/libexec/vdsm/hooks/{hookPoint}/50_largeguest"], [], environment: env,
            clearEnvironment: true);
    }

    public void Dispose() => _dir.Dispose();
}
