using Largeguest.Ksm;

namespace Largeguest.Tests.Ksm;

/// <summary>
/// The state directory's trust check (docs/ksm.md, "State directory"): the rule as a pure function, and real
/// directories chown/chmod-ed by the test (which needs root for chown, and says so when it is not).
/// </summary>
public sealed class KsmStateDirectoryTests : IDisposable
{
    private const uint Dir = 0x4000, Sticky = 0x200, Nobody = 65534;
    private readonly string _root = Directory.CreateTempSubdirectory("largeguest-ksm-statedir-").FullName;

    public KsmStateDirectoryTests()
    {
        if (!Environment.IsPrivilegedProcess)
            throw new InvalidOperationException(
                "THE STATE DIRECTORY TESTS NEED ROOT to chown directories; not skipping");
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Theory]
    [InlineData(0u, 0b111_101_101u, false, null)]
    [InlineData(0u, 0b111_000_000u, false, null)]
    [InlineData(0u, 0b111_111_101u, false, "writable by others than its owner")]
    [InlineData(0u, 0b111_101_111u, false, "writable by others than its owner")]
    [InlineData(0u, Sticky | 0b111_111_111u, false,
        "writable by others than its owner")] // sticky is no excuse for the directory itself
    [InlineData(Nobody, 0b111_101_101u, false, "not owned by root")]
    [InlineData(0u, Sticky | 0b111_111_111u, true, null)] // /tmp above it: others cannot rename or remove root's entry
    [InlineData(0u, 0b111_111_111u, true, "writable by others and not sticky")]
    [InlineData(Nobody, Sticky | 0b111_111_111u, true, "not owned by root")]
    public void The_rule(uint uid, uint permissions, bool ancestor, string? why) =>
        KsmStateDirectory.Distrust(uid, Dir | permissions, euid: 0,
            ancestor ? KsmStateDirectory.DirectoryRole.Ancestor : KsmStateDirectory.DirectoryRole.StateDirectory)
            .Should().Be(why);

    [Fact]
    public void A_regular_file_is_not_a_directory() =>
        KsmStateDirectory.Distrust(0, 0x8000 | 0b110_100_100u, 0, KsmStateDirectory.DirectoryRole.StateDirectory)
            .Should().Be("not a directory");

    [Fact]
    public void A_missing_directory_is_created_root_owned_and_passes()
    {
        var state = Path.Combine(_root, "state");
        new KsmStateDirectory(state).CheckTrusted();
        Directory.Exists(state).Should().BeTrue();
        (File.GetUnixFileMode(state) & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite))
            .Should().Be(UnixFileMode.None);
    }

    [Theory]
    [InlineData("0777", 0u, "is writable by others than its owner: owner uid 0, mode 0777")]
    [InlineData("0775", 0u, "is writable by others than its owner: owner uid 0, mode 0775")]
    [InlineData("1777", 0u, "is writable by others than its owner: owner uid 0, mode 1777")]
    [InlineData("0755", Nobody, "is not owned by root: owner uid 65534, mode 0755")]
    public void A_state_directory_others_can_change_is_refused_naming_path_owner_and_mode(string mode, uint owner,
        string said)
    {
        var state = Path.Combine(_root, "state");
        Directory.CreateDirectory(state);
        Chmod(state, mode);
        Chown(state, owner);
        FluentActions.Invoking(() => new KsmStateDirectory(state).CheckTrusted()).Should().Throw<KsmException>()
            .WithMessage($"{state} (the KSM state directory (Ksm:StateDir)) {said};*docs/ksm.md*");
    }

    [Fact]
    public void A_requests_directory_others_can_write_is_refused()
    {
        var state = Path.Combine(_root, "state");
        var requests = Path.Combine(state, KsmStateDirectory.RequestsDirectoryName);
        Directory.CreateDirectory(requests);
        Chmod(requests, "0757");
        FluentActions.Invoking(() => new KsmStateDirectory(state).CheckTrusted()).Should().Throw<KsmException>()
            .WithMessage($"{requests} (in the KSM state directory) is writable by others than its owner: owner uid " +
                $"0, mode 0757;*");
    }

    [Fact]
    public void Above_it_others_may_write_only_where_the_sticky_bit_is_set()
    {
        var parent = Path.Combine(_root, "shared");
        var state = Path.Combine(parent, "state");
        Directory.CreateDirectory(state);
        Chmod(parent, "1777");
        new KsmStateDirectory(state).CheckTrusted(); // like /tmp: nobody else can rename or remove root's directory

        Chmod(parent, "0777");
        FluentActions.Invoking(() => new KsmStateDirectory(state).CheckTrusted()).Should().Throw<KsmException>()
            .WithMessage($"{parent} (above the KSM state directory {state}) is writable by others and not sticky: " +
                $"owner uid 0, mode 0777;*");

        Chmod(parent, "0755");
        Chown(parent, Nobody);
        FluentActions.Invoking(() => new KsmStateDirectory(state).CheckTrusted()).Should().Throw<KsmException>()
            .WithMessage($"{parent} (above the KSM state directory {state}) is not owned by root: owner uid 65534, " +
                $"mode 0755;*");
    }

    private static void Chmod(string path, string octal) =>
        File.SetUnixFileMode(path, (UnixFileMode)Convert.ToInt32(octal, 8));

    private static void Chown(string path, uint uid)
    {
        using var p = System.Diagnostics.Process.Start("chown",
            [uid.ToString(System.Globalization.CultureInfo.InvariantCulture), path]);
        p.WaitForExit();
        p.ExitCode.Should().Be(0, $"chown {uid} {path}");
    }
}
