namespace Largeguest.Tests.Packaging;

/// <summary>
/// scripts/ensure-packages.sh, the installer behind `make deps` and the end-to-end fixtures, run as the fixtures run
/// it: two callers at once asking for the same missing package. dpkg and apt-get are stand-ins on PATH (recording
/// each call, taking a second to "install"): the failure they stand for, a second apt-get refused because the first
/// holds dpkg's lock, is what broke the end-to-end fixtures on a fresh machine.
/// </summary>
public class EnsurePackagesTests
{
    private const string FakeDpkgQuery = """
        #!/bin/bash
        # dpkg-query -W -f=FORMAT PKG: installed when the state dir has a file of its name
        pkg=${!#}
        [ -e "$FAKE_STATE/installed/$pkg" ] || exit 1
        echo -n "install ok installed"
        """;

    private const string FakeAptGet = """
        #!/bin/bash
        echo "start $$ $*" >>"$FAKE_STATE/apt.log"
        if [[ " $* " == *" install "* ]]; then
            sleep 1
            for a in "$@"; do case $a in -*|install|*=*) ;; *) touch "$FAKE_STATE/installed/$a" ;; esac; done
        fi
        echo "end $$" >>"$FAKE_STATE/apt.log"
        """;

    [Fact]
    public async Task Two_callers_at_once_install_a_missing_package_once_and_both_succeed()
    {
        if (Environment.UserName != "root" && Tool.Run("id", ["-u"]).Stdout.Trim() != "0")
            throw new InvalidOperationException("scripts/ensure-packages.sh installs only as root: run the tests as " +
                "root (`make test` does)");
        using var state = new ScratchDir();
        var bin = Directory.CreateDirectory(state["bin"]).FullName;
        Directory.CreateDirectory(state["installed"]);
        foreach (var (name, text) in new[] { ("dpkg-query", FakeDpkgQuery), ("apt-get", FakeAptGet) })
        {
            File.WriteAllText(Path.Combine(bin, name), text + "\n");
            File.SetUnixFileMode(Path.Combine(bin, name), UnixFileMode.UserRead | UnixFileMode.UserWrite |
                UnixFileMode.UserExecute);
        }
        var environment = new Dictionary<string, string>
        {
            ["PATH"] = $"{bin}:{Environment.GetEnvironmentVariable("PATH")}",
            ["FAKE_STATE"] = state.Path,
            ["LARGEGUEST_PACKAGES_LOCK"] = state["lock"],
        };
        var script = Repo.PathOf("scripts/ensure-packages.sh");

        var runs = await Task.WhenAll(Enumerable.Range(0, 2)
            .Select(_ => Task.Run(() => Tool.Run(script, ["qemu-system-x86"], environment: environment))));

        foreach (var run in runs) run.ExitCode.Should().Be(0, $"each caller gets the package:\n{run}");
        File.Exists(state["installed/qemu-system-x86"]).Should().BeTrue();
        var log = File.ReadAllLines(state["apt.log"]);
        var calls = string.Join('\n', log);
        log.Count(l => l.StartsWith("start ") && l.Contains(" install ")).Should().Be(1,
            $"the second caller looks again once it holds the lock and finds the package installed:\n{calls}");
        for (var i = 0; i < log.Length; i += 2)
            log[i + 1].Should().Be("end " + log[i].Split(' ')[1], $"apt-get runs one at a time:\n{calls}");
        log.Where(l => l.StartsWith("start ")).Should().OnlyContain(l => l.Contains("-o DPkg::Lock::Timeout="),
            "apt-get waits for a dpkg lock held by someone else instead of failing at once");
    }
}
