using Largeguest.Grammar;

namespace Largeguest.Tests.Grammar;

public class GuestNumaTests
{
    private const long GiB = 1024 * 1024;

    [Fact]
    public void Parses_the_design_example()
    {
        var numa = GuestNuma.Parse("0-7#10G,8-15#10G");
        numa.Cells.Should().Equal(
            new GuestCell(CpuSet.Range(0, 7), new MemorySize(10 * GiB)),
            new GuestCell(CpuSet.Range(8, 15), new MemorySize(10 * GiB)));
        numa.TotalMemory.Should().Be(new MemorySize(20 * GiB));
    }

    [Theory]
    [InlineData("1048576")]
    [InlineData("1048576K")]
    [InlineData("1048576KiB")]
    [InlineData("1024M")]
    [InlineData("1024MiB")]
    [InlineData("1G")]
    [InlineData("1GiB")]
    [InlineData(" 1 G ")]
    public void Every_unit_spelling_of_one_gibibyte_is_the_same_cell(string memory) =>
        GuestNuma.Parse($"0-1#{memory}").Cells.Single().Memory.KiB.Should().Be(GiB);

    [Fact]
    public void A_token_without_hash_belongs_to_the_next_cell()
    {
        var numa = GuestNuma.Parse("0-3,8-11#8G,4-7,12-15#8G");
        numa.Cells.Select(c => c.Vcpus.ToString()).Should().Equal("0-3,8-11", "4-7,12-15");
        numa.ToString().Should().Be("0-3,8-11#8G,4-7,12-15#8G");
    }

    [Theory]
    [InlineData("0-7#8G#0,8-15#8G#1", "0", "1")]
    [InlineData("0-7#8G#0-1,8-15#8G#2-3", "0-1", "2-3")]
    [InlineData("0-7#8G# 1 ,8-15#8G", "1", null)]
    public void A_cell_may_name_its_host_nodes(string text, string node0, string? node1)
    {
        var cells = GuestNuma.Parse(text).Cells;
        cells[0].HostNodes!.ToString().Should().Be(node0);
        cells[1].HostNodes?.ToString().Should().Be(node1);
        if (node1 is null) cells[1].HostNodes.Should().BeNull();
    }

    [Theory]
    [InlineData("0-7#8388608#0,8-15#8192M", "0-7#8G#0,8-15#8G")]
    [InlineData("0#1536M", "0#1536M")]
    [InlineData("0#1572864K", "0#1536M")]
    [InlineData("3,1,2#7", "1-3#7K")]
    public void Prints_the_canonical_form(string text, string canonical) =>
        GuestNuma.Parse(text).ToString().Should().Be(canonical);

    [Theory]
    [InlineData("0-3#8G,3-7#8G", "vCPU 3 is in cell 0 and cell 1")]
    [InlineData("0-3", "bad token '0-3': the last entry has no '#'")]
    [InlineData("0-3#8G,4-7", "bad token '4-7': the last entry has no '#'")]
    [InlineData("0-3#", "in '0-3#': bad memory: bad size ''")]
    [InlineData("0-3#8X", "unknown unit 'X'")]
    [InlineData("0-3#8GB", "unknown unit 'GB'")]
    [InlineData("0-3#0", "must be above zero")]
    [InlineData("0-3#8G#0#1", "too many '#'")]
    [InlineData("0-3#8G#a", "bad host nodes: bad token 'a'")]
    [InlineData("#8G", "bad vCPUs: empty cpuset")]
    [InlineData("0-3#8G,,4-7#8G", "empty entry")]
    [InlineData("0-3#8G#^1", "bad host nodes")]
    public void Rejects_with_the_bad_token_named(string text, string problem) =>
        FluentActions.Invoking(() => GuestNuma.Parse(text)).Should().Throw<SyntaxException>()
            .Where(e => e.Problem.Contains(problem) && e.Expected == GuestNuma.Syntax, $"the problem should mention " +
                $"\"{problem}\"");
}
