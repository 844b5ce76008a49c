using Largeguest.Tests.Support;

namespace Largeguest.Tests.E2E;

/// <summary>
/// before_vm_migrate_destination on XML exactly as libvirt 9.0 writes it (`virsh dumpxml --migratable` of a
/// running guest the hook had set up, kept in Domains/db-strict.migratable.xml): the hook must accept it
/// unchanged, byte for byte. libvirt's XML mixes quote styles: its own attributes in single quotes, the
/// oVirt &lt;metadata&gt; subtree re-serialized by libxml2 in double quotes. Runs without libvirtd, so the
/// contract is checked on every `make test` even where the end-to-end guests are the only other proof.
/// </summary>
public sealed class MigratableXmlTests
{
    private static readonly Dictionary<string, string> Properties = new()
    {
        ["cputune"] = "0#0,1#1,2#0,3#0-1,emulator#1,iothread1#0",
        ["guestnuma"] = "0-1#128M,2-3#128M",
        ["numatune"] = "strict#0",
    };

    private static byte[] Migratable() => File.ReadAllBytes(Path.Combine(PublishedBinary.RepoRoot,
        "tests", "Largeguest.Tests", "E2E", "Domains", "db-strict.migratable.xml"));

    [Fact]
    public void Sample_is_libvirt_output_with_mixed_quotes()
    {
        var text = System.Text.Encoding.UTF8.GetString(Migratable());
        text.Should().Contain("<vcpupin vcpu='0' cpuset='0'/>").And.Contain("<emulatorpin cpuset='1'/>").And
            .Contain("<iothreadpin iothread='1' cpuset='0'/>")
            .And.Contain("<ovirt-vm:minGuaranteedMemoryMb type=\"int\">");
    }

    [Fact]
    public void Migration_destination_accepts_libvirts_migratable_xml_byte_identical()
    {
        using var hooks = new VdsmHookRunner();
        var input = Migratable();
        var run = hooks.Run("before_vm_migrate_destination", input, Properties,
            vmId: "6bc2010c-a6f9-4a7e-b188-fa1dee731272");
        run.ExitCodes.Should().Equal([0], run.Stderr);
        run.XmlText.Should().Be(System.Text.Encoding.UTF8.GetString(input), "the destination must accept the " +
            "source's XML unchanged");
    }

    [Fact]
    public void Start_hook_leaves_libvirts_xml_alone_when_it_already_has_what_the_properties_ask()
    {
        using var hooks = new VdsmHookRunner();
        var input = Migratable();
        var run = hooks.Run("before_vm_start", input, Properties, vmId: "6bc2010c-a6f9-4a7e-b188-fa1dee731272");
        run.ExitCodes.Should().Equal([0], run.Stderr);
        run.XmlText.Should().Be(System.Text.Encoding.UTF8.GetString(input), "running the hook on its own " +
            "(libvirt-formatted) result must change nothing");
    }
}
