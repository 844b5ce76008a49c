namespace Largeguest.Tests.Packaging;

/// <summary>The ksmtune subpackage that <c>make rpm</c> builds beside the main package (docs/ksmtune.md).</summary>
[Collection(RpmCollection.Name)]
public class KsmtunePackageTests(RpmFixture rpm)
{
    private const string Unit = "/usr/lib/systemd/system/largeguest-ksmtune.service";
    private static readonly string DocDir = $"/usr/share/doc/{RpmFixture.Name}";

    private string SubRpm => Repo.PathOf($"out/{RpmFixture.Name}-ksmtune-{rpm.Version}-{rpm.Release}.x86_64.rpm");

    [Fact]
    public void The_subpackage_holds_the_unit_and_its_doc_and_needs_the_main_package()
    {
        rpm.Build.ExitCode.Should().Be(0, $"`make rpm` must succeed:\n{rpm.Build}");
        File.Exists(SubRpm).Should().BeTrue($"make rpm must leave {SubRpm}");
        RpmFixture.Query("-qp", "--qf", "%{NAME} %{VERSION} %{RELEASE} %{ARCH}", SubRpm)
            .Should().Be($"{RpmFixture.Name}-ksmtune {rpm.Version} 1 x86_64");
        RpmFixture.Query("-qp", "--qf", "[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILENAMES}\n]", SubRpm)
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().BeEquivalentTo(
            [
                $"-rw-r--r-- root root {Unit}",
                $"-rw-r--r-- root root {DocDir}/docs/ksmtune.md",
            ]);
        var requires = RpmFixture.Query("-qp", "--requires", SubRpm).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(r => !r.StartsWith("rpmlib(", StringComparison.Ordinal) && r != "/bin/sh").Distinct();
        requires.Should().BeEquivalentTo([$"{RpmFixture.Name}(x86-64) = {rpm.Version}-1", "systemd"]);
        var scripts = RpmFixture.Query("-qp", "--scripts", SubRpm);
        scripts.Should().Contain("systemctl --no-reload preset largeguest-ksmtune.service")
            .And.Contain("systemctl --no-reload disable --now largeguest-ksmtune.service")
            .And.Contain("systemctl try-restart largeguest-ksmtune.service");
    }

    [Fact]
    public void Installed_with_the_main_package_its_unit_starts_the_installed_binary()
    {
        using var root = new ScratchRoot();
        root.Install(rpm.RpmPath);
        root.Install(SubRpm); // the scriptlets skip systemctl where systemd is not running (this machine, image builds)
        File.ReadAllText(root[Unit]).Should().Be(Repo.ReadText("packaging/largeguest-ksmtune.service"));
        var exec = File.ReadAllLines(root[Unit]).Single(l => l.StartsWith("ExecStart=",
            StringComparison.Ordinal))["ExecStart=".Length..].Split(' ');
        exec[1..].Should().Equal("ksm", "tune", "--daemon");
        File.Exists(root[exec[0]]).Should().BeTrue($"ExecStart names {exec[0]}, which the main package installs");
        var help = Tool.Run(root[exec[0]], ["ksm", "tune", "--help"]);
        help.ExitCode.Should().Be(0, help.ToString());
        help.Stdout.Should().Contain("--daemon").And.Contain("--once");
    }
}
