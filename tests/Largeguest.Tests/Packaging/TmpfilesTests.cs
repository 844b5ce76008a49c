namespace Largeguest.Tests.Packaging;

/// <summary>packaging/vdsm-hook-largeguest.tmpfiles as the real systemd-tmpfiles applies it (under --root).</summary>
public class TmpfilesTests
{
    private const string Policy = "/etc/vdsm/mom.d/02-largeguest.policy";

    [Fact]
    public void At_boot_the_state_directory_is_created_and_the_MoM_policy_removed_but_not_on_a_manual_remove()
    {
        var tmpfiles = Tool.Require("systemd-tmpfiles", "systemd");
        using var root = new ScratchDir();
        Directory.CreateDirectory(Path.GetDirectoryName(root[Policy])!);
        Directory.CreateDirectory(root["/run"]);
        File.WriteAllText(root[Policy], "(set ksmMergeAcrossNodes 0)\n");
        var config = Repo.PathOf("packaging/vdsm-hook-largeguest.tmpfiles");

        Tool.Check(tmpfiles, $"--root={root.Path}", "--remove", config);
        File.Exists(root[Policy])
            .Should().BeTrue("the policy of running VMs survives an administrator's 'systemd-tmpfiles --remove'");

        Tool.Check(tmpfiles, $"--root={root.Path}", "--create", "--remove", "--boot",
            config); // what systemd-tmpfiles-setup.service runs
        File.Exists(root[Policy]).Should().BeFalse("after a reboot no VM runs: MoM must start with the engine's value");
        Directory.Exists(root["/run/vdsm-hook-largeguest"]).Should().BeTrue();
    }
}
