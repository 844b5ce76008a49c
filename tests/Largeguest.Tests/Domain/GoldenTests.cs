using System.Text;
using Largeguest.Tests.Support;

namespace Largeguest.Tests.Domain;

/// <summary>
/// The rewrite of realistic oVirt domains against reviewed golden files. Set LARGEGUEST_UPDATE_GOLDEN=1
/// to (re)write the expected files from the current code, then review every diff by eye before committing.
/// </summary>
public class GoldenTests
{
    [Theory]
    [MemberData(nameof(Fixtures.All), MemberType = typeof(Fixtures))]
    public void Rewrite_matches_the_reviewed_golden_file(GoldenCase golden)
    {
        var actual = Fixtures.Rewrite(golden, golden.Input, out var stderr);
        if (golden.Warning is null) stderr.Should().BeEmpty("every golden case fits the sample host");
        else stderr.Should().Contain(golden.Warning);
        if (Environment.GetEnvironmentVariable("LARGEGUEST_UPDATE_GOLDEN") == "1")
            File.WriteAllBytes(golden.ExpectedPath, actual);
        File.Exists(golden.ExpectedPath)
            .Should().BeTrue($"the golden file {golden.ExpectedPath} must be checked in (LARGEGUEST_UPDATE_GOLDEN=1 " +
            $"writes it)");
        Encoding.UTF8.GetString(actual).Should().Be(File.ReadAllText(golden.ExpectedPath));
        actual.Should().Equal(File.ReadAllBytes(golden.ExpectedPath));
    }

    [Theory]
    [MemberData(nameof(Fixtures.All), MemberType = typeof(Fixtures))]
    public void Rewrite_changes_only_what_the_properties_own(GoldenCase golden)
    {
        var input = Encoding.UTF8.GetString(golden.Input);
        var output = Encoding.UTF8.GetString(Fixtures.Rewrite(golden, golden.Input, out _));
        output.Should().NotBe(input, "every golden case asks for a change");
        var names = golden.Properties.Keys.ToList();
        Fixtures.WithoutOwnedParts(output, names).Should().Be(Fixtures.WithoutOwnedParts(input, names),
            "everything but the elements the properties own must survive byte for byte");
    }

    [Theory]
    [MemberData(nameof(Fixtures.All), MemberType = typeof(Fixtures))]
    public void Rewriting_the_output_again_gives_the_same_bytes(GoldenCase golden)
    {
        var once = Fixtures.Rewrite(golden, golden.Input, out _);
        Fixtures.Rewrite(golden, once, out _).Should().Equal(once);
    }

    [Fact]
    public void The_owned_parts_check_can_fail()
    {
        // Guard for the check above: dropping <shares> or changing a metadata prefix is caught.
        var golden = Fixtures.Case("sap-all");
        var input = Encoding.UTF8.GetString(golden.Input);
        var names = golden.Properties.Keys.ToList();
        var damaged = input.Replace("<shares>1020</shares>", "").Replace("<ns1:jobs>", "<ovirt-vm:jobs>");
        Fixtures.WithoutOwnedParts(damaged, names).Should().NotBe(Fixtures.WithoutOwnedParts(input, names));
    }
}
