using Largeguest.Domain;
using Largeguest.Grammar;
using Largeguest.Tests.Support;

namespace Largeguest.Tests.Domain;

/// <summary>docs/design.md section 4, "Validation against the domain": each failure names the property and shows the numbers.</summary>
public class DomainValidationTests
{
    private static PropertyException Rejects(string fixture, params (string Name, string Value)[] properties)
    {
        var input = Fixtures.Read(fixture);
        return FluentActions.Invoking(() => Fixtures.Rewrite(input, properties.ToDictionary(p => p.Name, p => p.Value)))
            .Should().Throw<PropertyException>().Which;
    }

    [Fact]
    public void Vcpu_ids_are_checked_against_the_maximum_not_current()
    {
        // <vcpu placement='static' current='2'>16</vcpu>: vCPU 15 exists (hot-pluggable), 16 does not.
        Fixtures.Rewrite(Fixtures.Read("ovirt-hana-libvirt.xml"), new Dictionary<string, string> { ["cputune"] = "15#0" })
            .Should().NotBeEmpty();
        var e = Rejects("ovirt-hana-libvirt.xml", ("cputune", "14-17#0"));
        e.Property.Should().Be("cputune");
        e.Problem.Should().Be("vCPUs 16-17 do not exist: the domain has 16 vCPUs");
        e.Expected.Should().Contain("vCPU ids 0-15");
    }

    [Fact]
    public void Cells_must_cover_every_vcpu_and_the_message_lists_the_missing_ones()
    {
        var e = Rejects("ovirt-hana-libvirt.xml", ("guestnuma", "0-7#8G,8-11,13#8G"));
        e.Property.Should().Be("guestnuma");
        e.Problem.Should().Be("vCPUs 12,14-15 are in no cell: the cells cover 0-11,13 but the domain has 16 vCPUs");
    }

    [Fact]
    public void A_cell_may_not_list_a_vcpu_above_the_maximum()
    {
        var e = Rejects("ovirt-hana-libvirt.xml", ("guestnuma", "0-7#8G,8-17#8G"));
        e.Problem.Should().Be("cell 1 lists vCPUs 16-17, beyond the domain's 16 vCPUs");
    }

    [Fact]
    public void Cells_must_add_up_to_the_initial_memory_without_dimms()
    {
        // <memory> 12 GiB includes two 2 GiB DIMMs: the cells must add up to 8 GiB.
        var e = Rejects("ovirt-hotplug-libvirt.xml", ("guestnuma", "0-3#6G,4-7#6G"));
        e.Property.Should().Be("guestnuma");
        e.Problem.Should().Be("the cells add up to 12582912 KiB (12 GiB) but the domain's initial memory is 8388608 KiB (8 GiB) " +
            "(<memory> 12 GiB minus 4 GiB in 2 memory device(s))");
        e.Expected.Should().Be("cell sizes that add up to 8388608 KiB (8 GiB)");
    }

    [Fact]
    public void Without_dimms_the_cells_add_up_to_memory()
    {
        var e = Rejects("ovirt-hana-libvirt.xml", ("guestnuma", "0-7#8G,8-15#4G"));
        e.Problem.Should().Be("the cells add up to 12582912 KiB (12 GiB) but the domain's initial memory is 16777216 KiB (16 GiB) (its <memory>)");
    }

    [Fact]
    public void A_dimm_target_node_must_still_exist()
    {
        var e = Rejects("ovirt-hotplug-libvirt.xml", ("guestnuma", "0-7#8G"));
        e.Problem.Should().Be("memory device 1 (dimm, 2 GiB) targets guest node 1, but the cells are 0");
        e.Expected.Should().Contain("at least 2 cells");
    }

    [Fact]
    public void A_failed_check_leaves_the_document_unchanged_because_nothing_is_applied_before_it()
    {
        var doc = DomainDocument.Parse(Fixtures.Read("ovirt-sap-vdsm.xml"));
        var before = doc.ToBytes().ToArray();
        var properties = LargeguestProperties.Parse(new Dictionary<string, string> { ["cputune"] = "0#1", ["guestnuma"] = "0-15#1G" }, NumaMode.Preferred);
        FluentActions.Invoking(() => DomainRewriter.Apply(doc, properties, NumaMode.Preferred)).Should().Throw<PropertyException>();
        doc.ToBytes().ToArray().Should().Equal(before);
    }

    [Fact]
    public void Per_cell_host_nodes_use_the_numatune_mode_or_the_default()
    {
        var output = System.Text.Encoding.UTF8.GetString(Fixtures.Rewrite(Fixtures.Read("oneline.xml"),
            new Dictionary<string, string> { ["guestnuma"] = "0-1#2G#1,2-3#2G" }));
        output.Should().Contain("<numatune><memnode cellid='0' mode='preferred' nodeset='1'/></numatune>");
        output.Should().NotContain("cellid='1'");
    }

    [Fact]
    public void Memnodes_of_cells_that_no_longer_exist_are_dropped()
    {
        const string xml = "<domain><vcpu>4</vcpu><memory>4194304</memory><numatune><memory mode='strict' nodeset='0-1'/>" +
            "<memnode cellid='0' mode='strict' nodeset='0'/><memnode cellid='1' mode='strict' nodeset='1'/></numatune>" +
            "<cpu><numa><cell id='0' cpus='0-1' memory='2097152'/><cell id='1' cpus='2-3' memory='2097152'/></numa></cpu></domain>";
        var output = System.Text.Encoding.UTF8.GetString(Fixtures.Rewrite(System.Text.Encoding.UTF8.GetBytes(xml),
            new Dictionary<string, string> { ["guestnuma"] = "0-3#4G" }));
        output.Should().Be("<domain><vcpu>4</vcpu><memory>4194304</memory><numatune><memory mode='strict' nodeset='0-1'/>" +
            "<memnode cellid='0' mode='strict' nodeset='0'/></numatune>" +
            "<cpu><numa><cell id='0' cpus='0-3' memory='4194304' unit='KiB'/></numa></cpu></domain>");
    }
}
