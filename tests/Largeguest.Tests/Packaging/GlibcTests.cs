using System.Text.RegularExpressions;

namespace Largeguest.Tests.Packaging;

/// <summary>The published binary must load on EL9, whose glibc is 2.34 (docs/packaging.md: what EL8 would
/// need).</summary>
public class GlibcTests
{
    public static readonly Version El9Glibc = new(2, 34);

    /// <summary>Every GLIBC_x.y symbol version the binary's dynamic symbol table asks for (objdump -T).</summary>
    public static IReadOnlyList<Version> GlibcVersions(string binary)
    {
        File.Exists(binary).Should().BeTrue($"{binary} must exist: `make publish` builds it");
        var dump = Tool.Check(Tool.Require("objdump", "binutils"), "-T", binary).Stdout;
        return Regex.Matches(dump, @"\bGLIBC_([0-9]+(?:\.[0-9]+)+)\b")
            .Select(m => Version.Parse(m.Groups[1].Value)).Distinct().Order().ToList();
    }

    public static string NewestGlibcVersion(string binary) => GlibcVersions(binary)[^1].ToString();

    [Fact]
    public void Published_binary_needs_no_glibc_newer_than_EL9s()
    {
        var versions = GlibcVersions(Repo.PublishedBinary);
        versions.Should().NotBeEmpty("a dynamically linked Native-AOT binary references versioned glibc symbols");
        versions.Where(v => v > El9Glibc)
            .Should().BeEmpty($"EL9 ships glibc {El9Glibc}; the binary needs {string.Join(", ", versions)}");
    }
}
