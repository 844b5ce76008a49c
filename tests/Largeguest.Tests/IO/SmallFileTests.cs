using Largeguest.IO;

namespace Largeguest.Tests.IO;

/// <summary>The small-file reader behind the sysfs topology, KSM and MoM reads: whole content, never cut
/// short.</summary>
public sealed class SmallFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("largeguest-smallfile-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    [InlineData(4095)]
    [InlineData(4096)] // exactly the stack page: the end is only seen by the next read
    [InlineData(4097)]
    [InlineData(40_000)] // a sysfs CPU list of a large host with a scattered numbering
    public void Reads_the_whole_file_whatever_its_length(int length)
    {
        var text = string.Concat(Enumerable.Range(0, length).Select(i => (char)('0' + i % 10)));
        var path = Write("f", text);
        SmallFile.Read(path).Should().Be(text);
        SmallFile.TryRead(path).Should().Be(text);
    }

    [Fact]
    public void A_missing_file_is_null_and_other_failures_name_the_file()
    {
        SmallFile.Read(Path.Combine(_dir, "absent")).Should().BeNull();
        SmallFile.TryRead(Path.Combine(_dir, "absent")).Should().BeNull();
        FluentActions.Invoking(() => SmallFile.Read(_dir)).Should().Throw<IOException>()
            .WithMessage($"{_dir}: Is a directory");
        SmallFile.TryRead(_dir).Should().BeNull();
    }

    [Fact]
    public void A_file_beyond_the_limit_is_refused_not_cut_short()
    {
        var path = Write("big", new string('x', SmallFile.MaxBytes + 1));
        FluentActions.Invoking(() => SmallFile.Read(path)).Should().Throw<IOException>()
            .WithMessage($"{path}: File too large");
        SmallFile.TryRead(path).Should().BeNull();
        SmallFile.Read(Write("limit", new string('x', SmallFile.MaxBytes)))!.Length.Should().Be(SmallFile.MaxBytes);
    }

    [Fact]
    public void Reads_kernel_files_whose_size_stat_does_not_tell()
    {
        // /proc files report size 0: a reader trusting the size would read nothing.
        SmallFile.Read("/proc/self/status").Should().Contain("Pid:");
        SmallFile.Read("/sys/devices/system/cpu/online").Should().MatchRegex(@"^[0-9,-]+\n$");
    }
}
