using System.Xml.Linq;
using Largeguest.Domain;
using Largeguest.Grammar;
using Largeguest.Tests.Support;

namespace Largeguest.Tests.Domain;

/// <summary>docs/design.md section 4, "Validation against the domain": each failure names the property and shows the
/// numbers.</summary>
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
        Fixtures.Rewrite(Fixtures.Read("ovirt-hana-libvirt.xml"), new Dictionary<string,
            string> { ["cputune"] = "15#0" })
            .Should().NotBeEmpty();
        var e = Rejects("ovirt-hana-libvirt.xml", ("cputune", "14-17#0"));
        e.Property.Should().Be("cputune");
        e.Problem.Should().Be("vCPUs 16-17 do not exist: the domain has 16 vCPUs");
        e.Expected.Should().Contain("vCPU ids 0-15");
    }

    [Fact]
    public void Huge_page_nodesets_must_name_guest_nodes_the_new_cells_have()
    {
        // <page nodeset='0-1'>: one new cell leaves guest node 1 without a cell, which libvirt refuses.
        var e = Rejects("ovirt-dpdk-hugepages-libvirt.xml", ("guestnuma", "0-7#8G#0"));
        e.OneLine.Should().Be("guestnuma: <memoryBacking><hugepages><page nodeset='0-1'> names guest node 1, but the " +
            "new cells are 0 " +
            "(libvirt refuses it: \"hugepages: node 1 not found\") (expected: at least 2 cells, or huge page " +
                "nodesets within cells 0 (the VM's huge page settings))");
        Fixtures.Rewrite(Fixtures.Read("ovirt-dpdk-hugepages-libvirt.xml"), new Dictionary<string,
            string> { ["guestnuma"] = "0-3#2G,4-7#6G" })
            .Should().NotBeEmpty("two cells hold guest nodes 0-1");
    }

    [Fact]
    public void Per_cell_distances_are_kept_only_when_the_cell_count_is_unchanged()
    {
        var e = Rejects("ovirt-dpdk-hugepages-libvirt.xml", ("guestnuma", "0-1#2G,2-3#2G,4-5#2G,6-7#2G"));
        e.OneLine.Should().Be("guestnuma: the old cells have <distances>, which describe particular cells, and the " +
            "domain's 2 cells become 4: " +
            "there is no telling which new cell they belong to (expected: 2 cells (then each keeps its own), or " +
                "remove them from the VM's XML first)");
    }

    [Fact]
    public void A_restrictive_binding_the_domain_has_is_never_left_beside_memnodes_of_another_mode()
    {
        const string xml = """
            <domain type='kvm'>
              <memory unit='KiB'>4194304</memory>
              <vcpu>4</vcpu>
              <cpu><numa><cell id='0' cpus='0-3' memory='4194304' unit='KiB'/></numa></cpu>
              <numatune><memory mode='restrictive' nodeset='0'/>MEMNODES</numatune>
            </domain>
            """;
        byte[] Domain(string memnodes = "") => System.Text.Encoding.UTF8.GetBytes(xml.Replace("MEMNODES", memnodes));
        PropertyException Refused(byte[] input, Dictionary<string, string> properties) =>
            FluentActions.Invoking(() => Fixtures.Rewrite(input, properties)).Should().Throw<PropertyException>().Which;
        // The engine's restrictive binding, our cells in the default mode (preferred): libvirt would refuse the result.
        Refused(Domain(), new() { ["guestnuma"] = "0-1#2G#0,2-3#2G#0" }).OneLine.Should().StartWith(
            "guestnuma: the domain's <numatune><memory mode='restrictive'> (set by no property) would stand beside " +
                "memnodes of another mode " +
            "(cell 0: preferred, cell 1: preferred), which libvirt refuses");
        // A memnode the domain keeps (its cell is not rebound) beside our restrictive binding.
        var kept = Domain("<memnode cellid='0' mode='strict' nodeset='0'/>");
        var strictMemory = System.Text.Encoding.UTF8.GetBytes(System.Text.Encoding.UTF8.GetString(kept)
            .Replace("mode='restrictive' nodeset", "mode='strict' nodeset"));
        Refused(strictMemory, new() { ["numatune"] = "restrictive#0" }).OneLine.Should().StartWith(
            "numatune: the restrictive binding of numatune would stand beside memnodes of another mode " +
            "(cell 0: strict)");
        // What libvirt accepts goes through: the cells restrictive too, or the guest-wide binding set with them.
        Fixtures.Rewrite(Domain(), new Dictionary<string, string> { ["guestnuma"] = "0-1#2G#0,2-3#2G#0",
            ["numatune"] = "interleave#0" }).Should().NotBeEmpty();
        Fixtures.Rewrite(Domain(), new Dictionary<string, string> { ["guestnuma"] = "0-1#2G,2-3#2G" })
            .Should().NotBeEmpty("cells without host nodes add no memnode");
    }

    [Fact]
    public void Cache_and_interconnects_are_refused_when_the_cell_count_changes()
    {
        var hmat = System.Text.Encoding.UTF8.GetBytes(Libvirt.LibvirtAcceptanceTests.HmatDomain);
        PropertyException Refused(byte[] input,
            string guestnuma) => FluentActions.Invoking(() => Fixtures.Rewrite(input,
            new Dictionary<string, string> { ["guestnuma"] = guestnuma })).Should().Throw<PropertyException>().Which;
        Refused(hmat, "0#1G,1#1G,2-3#2G").OneLine
            .Should().Be("guestnuma: the old cells have <cache>, which describe particular cells, " +
            "and the domain's 2 cells become 3: there is no telling which new cell they belong to " +
            "(expected: 2 cells (then each keeps its own), or remove them from the VM's XML first)");
        var noCache = System.Text.RegularExpressions.Regex.Replace(Libvirt.LibvirtAcceptanceTests.HmatDomain,
            "<cache.*?</cache>", "",
            System.Text.RegularExpressions.RegexOptions.Singleline);
        Refused(System.Text.Encoding.UTF8.GetBytes(noCache), "0-3#4G").OneLine.Should().StartWith(
            "guestnuma: the old <numa> has <interconnects>, which describes particular cells, and the domain's 2 " +
                "cells become 1");
    }

    [Fact]
    public void Cell_attributes_the_same_on_every_old_cell_go_to_every_new_cell_and_per_cell_ones_need_the_same_count()
    {
        const string xml = """
            <domain type='kvm'>
              <memory unit='KiB'>6291456</memory>
              <vcpu>6</vcpu>
              <cpu>
                <numa>
                  <cell id='0' cpus='0-2' memory='3145728' unit='KiB' memAccess='shared' discard='yes'/>
                  <cell id='1' cpus='3-5' memory='3145728' unit='KiB' memAccess='shared'/>
                </numa>
              </cpu>
            </domain>
            """;
        DomainDocument Apply(string guestnuma)
        {
            var doc = DomainDocument.Parse(xml);
            DomainRewriter.Apply(doc, LargeguestProperties.Parse(new Dictionary<string,
                string> { ["guestnuma"] = guestnuma }, NumaMode.Preferred), NumaMode.Preferred);
            return doc;
        }
        var same = Apply("0-1#2G,2-5#4G").Root.Element("cpu")!.Element("numa")!.Elements("cell").ToList();
        same.Select(c => ((string?)c.Attribute("memAccess"), (string?)c.Attribute("discard")))
            .Should().Equal([("shared", "yes"), ("shared", null)]);
        FluentActions.Invoking(() => Apply("0-1#2G,2-3#2G,4-5#2G")).Should().Throw<PropertyException>().Which.OneLine
            .Should()
            .StartWith("guestnuma: the old cells differ in discard (cell 0: yes, cell 1: unset), and the domain's 2 " +
                "cells become 3");
        var shared = DomainDocument.Parse(xml.Replace(" discard='yes'", ""));
        DomainRewriter.Apply(shared, LargeguestProperties.Parse(new Dictionary<string,
            string> { ["guestnuma"] = "0-1#2G,2-3#2G,4-5#2G" }, NumaMode.Preferred), NumaMode.Preferred);
        shared.Root.Element("cpu")!.Element("numa")!.Elements("cell").Select(c => (string?)c.Attribute("memAccess"))
            .Should().Equal("shared", "shared", "shared");
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
        e.Problem.Should().Be("the cells add up to 12582912 KiB (12 GiB) but the domain's initial memory is 8388608 " +
            "KiB (8 GiB) " +
            "(<memory> 12 GiB minus 4 GiB in 2 memory device(s))");
        e.Expected.Should().Be("cell sizes that add up to 8388608 KiB (8 GiB)");
    }

    [Fact]
    public void Without_dimms_the_cells_add_up_to_memory()
    {
        var e = Rejects("ovirt-hana-libvirt.xml", ("guestnuma", "0-7#8G,8-15#4G"));
        e.Problem.Should().Be("the cells add up to 12582912 KiB (12 GiB) but the domain's initial memory is 16777216 " +
            "KiB (16 GiB) (its <memory>)");
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
        var properties = LargeguestProperties.Parse(new Dictionary<string, string> { ["cputune"] = "0#1",
            ["guestnuma"] = "0-15#1G" }, NumaMode.Preferred);
        FluentActions.Invoking(() => DomainRewriter.Apply(doc, properties, NumaMode.Preferred))
            .Should().Throw<PropertyException>();
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
        const string xml = "<domain><vcpu>4</vcpu><memory>4194304</memory><numatune><memory mode='strict' " +
            "nodeset='0-1'/>" +
            "<memnode cellid='0' mode='strict' nodeset='0'/>" +
            "<memnode cellid='1' mode='strict' nodeset='1'/></numatune>" +
            "<cpu><numa><cell id='0' cpus='0-1' memory='2097152'/><cell id='1' cpus='2-3' " +
                "memory='2097152'/></numa></cpu></domain>";
        var output = System.Text.Encoding.UTF8.GetString(Fixtures.Rewrite(System.Text.Encoding.UTF8.GetBytes(xml),
            new Dictionary<string, string> { ["guestnuma"] = "0-3#4G" }));
        output.Should().Be("<domain><vcpu>4</vcpu><memory>4194304</memory><numatune><memory mode='strict' " +
            "nodeset='0-1'/>" +
            "<memnode cellid='0' mode='strict' nodeset='0'/></numatune>" +
            "<cpu><numa><cell id='0' cpus='0-3' memory='4194304' unit='KiB'/></numa></cpu></domain>");
    }

    [Fact]
    public void An_iothread_pin_must_name_one_of_the_domains_io_threads_as_libvirt_numbers_them()
    {
        // <iothreads>4</iothreads> with <iothreadids> 1 and 8: libvirt's ids are 1, 8, 2 and 3.
        DomainDocument.Parse(Fixtures.Read("ovirt-db-iothreads-libvirt.xml")).IoThreadIds.Should().Equal(1, 8, 2, 3);
        var e = Rejects("ovirt-db-iothreads-libvirt.xml", ("cputune", "0#0,iothread4#1,iothread9#2,iothread3#3"));
        e.Property.Should().Be("cputune");
        e.Problem.Should().Be("iothreads 4,9 do not exist: the domain's I/O threads are 1-3,8 " +
            "(<iothreads>4</iothreads> and 2 <iothreadids> id(s))");
        e.Expected.Should().Be("iothreadN entries with N in 1-3,8");

        var none = Rejects("oneline.xml", ("cputune", "iothread1#0"));
        none.Problem.Should().Be("iothread 1 does not exist: the domain has no I/O threads (no <iothreads> or " +
            "<iothreadids>)");
        Rejects("ovirt-hana-libvirt.xml", ("cputune", "iothread2#0")).Problem
            .Should().EndWith("the domain's I/O threads are 1 (<iothreads>1</iothreads>)");
    }

    [Theory]
    // <topology sockets='4' cores='2' threads='2'/>: sockets of 4 vCPUs, cores of 2.
    [InlineData("0-5#8G,6-15#8G", "guest socket 1 (vCPUs 4-7 of <topology sockets='4' cores='2' threads='2'/>) is " +
        "split across cells: vCPUs 4-5 in cell 0, vCPUs 6-7 in cell 1; the guest kernel then sees one socket in " +
        "different NUMA nodes; cells of whole sockets hold multiples of 4 vCPUs")]
    [InlineData("0-4#8G,5-15#8G", "guest core 2 (vCPUs 4-5 of <topology sockets='4' cores='2' threads='2'/>) is " +
        "split across cells: vCPU 4 in cell 0, vCPU 5 in cell 1; the guest kernel then sees thread siblings in " +
        "different NUMA nodes; cells of whole sockets hold multiples of 4 vCPUs")]
    [InlineData("0-1,4-5#8G,2-3,6-15#8G", "guest socket 0 (vCPUs 0-3 of <topology sockets='4' cores='2' " +
        "threads='2'/>) is split across cells: vCPUs 0-1 in cell 0, vCPUs 2-3 in cell 1 (2 sockets are split in " +
        "all); the guest kernel then sees one socket in different NUMA nodes; cells of whole sockets hold multiples " +
        "of 4 vCPUs")]
    public void Cells_that_split_a_guest_socket_or_core_are_named_with_the_numbers(string guestnuma, string problem)
    {
        var doc = DomainDocument.Parse(Fixtures.Read("ovirt-hana-libvirt.xml"));
        DomainChecks.GuestTopologyMismatch(doc, GuestNuma.Parse(guestnuma)).Should().Be(problem);
    }

    [Fact]
    public void Cells_of_whole_sockets_or_a_domain_without_a_topology_raise_nothing()
    {
        var doc = DomainDocument.Parse(Fixtures.Read("ovirt-hana-libvirt.xml"));
        DomainChecks.GuestTopologyMismatch(doc, GuestNuma.Parse("0-3,8-11#8G,4-7,12-15#8G")).Should().BeNull();
        DomainChecks.GuestTopologyMismatch(doc, GuestNuma.Parse("0-11#8G,12-15#8G")).Should().BeNull();
        var hana = System.Text.Encoding.UTF8.GetString(Fixtures.Read("ovirt-hana-libvirt.xml"));
        var untopped = DomainDocument.Parse(System.Text.Encoding.UTF8.GetBytes(
            hana.Replace("<topology sockets='4' dies='1' cores='2' threads='2'/>", "")));
        DomainChecks.GuestTopologyMismatch(untopped, GuestNuma.Parse("0-4#8G,5-15#8G")).Should().BeNull();
        // With dies, a cell may hold whole dies of a socket (as a host with several nodes per package).
        var dies = DomainDocument.Parse(System.Text.Encoding.UTF8.GetBytes(
            hana.Replace("sockets='4' dies='1'", "sockets='2' dies='2'")));
        DomainChecks.GuestTopologyMismatch(dies, GuestNuma.Parse("0-3#8G,4-15#8G")).Should().BeNull();
        DomainChecks.GuestTopologyMismatch(dies, GuestNuma.Parse("0-5#8G,6-15#8G"))
            .Should().StartWith("guest die 1 (vCPUs 4-7 of <topology sockets='2' dies='2' cores='2' threads='2'/>)");
    }

    [Fact]
    public void A_topology_mismatch_warns_by_default_and_refuses_under_fail()
    {
        var input = Fixtures.Read("ovirt-hana-libvirt.xml");
        var properties = new Dictionary<string, string> { ["guestnuma"] = "0-5#8G,6-15#8G" };
        Fixtures.Rewrite(input, properties, out var stderr);
        stderr.Should().StartWith("largeguest: warning: guestnuma: guest socket 1 (vCPUs 4-7").And
            .Contain("(GuestNuma:TopologyMismatch=warn)");

        var config = SampleHost.Config with { GuestNumaTopologyMismatch = Largeguest.Config.FailurePolicy.Fail };
        var parsed = LargeguestProperties.Parse(properties, config.DefaultMode);
        var e = FluentActions.Invoking(() => Largeguest.Hook.HookRunner.Rewrite(input, parsed, config,
            SampleHost.Context(new StringWriter())))
            .Should().Throw<PropertyException>().Which;
        e.Property.Should().Be("guestnuma");
        e.Problem.Should().Contain("guest socket 1").And.EndWith("(GuestNuma:TopologyMismatch=fail)");
        // Where VDSM does not use the hook's XML (a migration destination), the running guest is not stopped over it.
        var warned = new StringWriter();
        Largeguest.Hook.HookRunner.Rewrite(input, parsed, config, SampleHost.Context(warned),
            Largeguest.Hook.HookPoint.BeforeVmMigrateDestination);
        warned.ToString().Should().Contain("guest socket 1");
    }
}
