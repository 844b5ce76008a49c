using System.Diagnostics;
using Largeguest.Grammar;
using Largeguest.Host;
using Largeguest.Host.Libvirt;

namespace Largeguest.Tests.Host;

/// <summary>Our P/Invoke binding against libvirt's built-in test driver (2 cells x 8 CPUs), a real libvirt.</summary>
public class LibvirtBindingTests
{
    public const string TestUri = "test:///default";
    /// <summary>The test driver's one domain, "test", running.</summary>
    public const string TestDomainUuid = "6695eb01-f6a4-8304-79aa-97f2502e193f";

    internal static void RequireLibvirt()
    {
        if (LibvirtLibrary.Probe(Native.Library) is { } problem)
            throw new InvalidOperationException($"libvirt is required for this test and missing: {problem}; run " +
                $"'make deps' (Debian package libvirt0)");
    }

    [Fact]
    public void Reads_capabilities_and_version()
    {
        RequireLibvirt();
        using var connect = Connect.OpenReadOnly(TestUri);
        connect.GetCapabilities().Should().StartWith("<capabilities>").And.Contain("<cells num='2'>");
        connect.LibVersion.Should().BeGreaterThan(1_000_000UL);
    }

    [Fact]
    public void Reads_free_memory_per_cell_in_bytes()
    {
        RequireLibvirt();
        using var connect = Connect.OpenReadOnly(TestUri);
        Node.GetCellsFreeMemory(connect, 0, 2).Should().Equal(2048UL * 1024, 4096UL * 1024);
        Node.GetCellsFreeMemory(connect, 1, 1).Should().Equal(4096UL * 1024);
    }

    [Fact]
    public void Free_memory_agrees_with_virsh()
    {
        RequireLibvirt();
        var virsh = Run("virsh", "-c", TestUri, "freecell", "--all");
        using var connect = Connect.OpenReadOnly(TestUri);
        var ours = Node.GetCellsFreeMemory(connect, 0, 2);
        virsh.Should().Contain($"0: {ours[0] / 1024,10} KiB").And.Contain($"1: {ours[1] / 1024,10} KiB");
    }

    [Fact]
    public void Reads_free_pages_per_size_and_cell()
    {
        RequireLibvirt();
        using var connect = Connect.OpenReadOnly(TestUri);
        var pages = Node.GetFreePages(connect, [4, 2048], 0, 2);
        pages.Should().HaveCount(2).And.OnlyContain(cell => cell.Length == 2);
        var virsh = Run("virsh", "-c", TestUri, "freepages", "--all");
        virsh.Should().Contain($"4KiB: {pages[0][0]}");
    }

    [Fact]
    public void The_topology_reader_gives_two_cells_of_eight_cpus()
    {
        RequireLibvirt();
        var t = LibvirtTopologyReader.Read(TestUri);
        t.Source.Should().Be("libvirt test:///default");
        t.Nodes.Select(n => n.Id).Should().Equal(0, 1);
        t.Node(0)!.Cpus.Select(c => c.Id).Should().Equal(Enumerable.Range(0, 8));
        t.Node(1)!.Cpus.Select(c => c.Id).Should().Equal(Enumerable.Range(8, 8));
        t.Cpus.Should().OnlyContain(c => c.Online && c.Siblings!.Count == 1);
        t.Cpu(9)!.Socket.Should().Be(1);
        t.Cpu(9)!.Core.Should().Be(1);
        t.Node(0)!.Total.Should().Be(new MemorySize(2097152));
        t.Node(1)!.Total.Should().Be(new MemorySize(4194304));
        t.Node(0)!.Free.Should().Be(new MemorySize(2048));
        t.Node(1)!.Free.Should().Be(new MemorySize(4096));
        t.Node(0)!.HugePages.Select(p => p.SizeKiB).Should().Equal(2048, 1048576);
        t.Node(0)!.HugePages.Should().OnlyContain(p => p.Free != null, "the test driver reports free pages");
    }

    [Fact]
    public void Looks_up_domains_by_uuid()
    {
        RequireLibvirt();
        using var connect = Connect.OpenReadOnly(TestUri);
        connect.DomainExists(TestDomainUuid).Should().BeTrue();
        connect.DomainExists("00000000-0000-0000-0000-000000000001").Should().BeFalse();
    }

    [Fact]
    public void A_malformed_uuid_surfaces_libvirts_error()
    {
        RequireLibvirt();
        using var connect = Connect.OpenReadOnly(TestUri);
        FluentActions.Invoking(() => connect.DomainExists("not-a-uuid")).Should().Throw<LibvirtException>()
            .Where(e => e.Code != Connect.ErrorNoDomain && e.Message.StartsWith("libvirt: test:///default: cannot " +
                "look up domain not-a-uuid: "));
    }

    [Fact]
    public void A_bad_uri_surfaces_libvirts_own_message()
    {
        RequireLibvirt();
        const string uri = "nosuchdriver:///x";
        var e = FluentActions.Invoking(() => Connect.OpenReadOnly(uri)).Should().Throw<LibvirtException>().Which;
        e.Message.Should().StartWith($"libvirt: cannot open {uri}: ");
        e.Code.Should().NotBe(0);
        // The same text virsh prints for the same failure: libvirt's message, not ours.
        var virsh = Run("virsh", "-r", "-c", uri, "version", allowFailure: true);
        var detail = e.Message[$"libvirt: cannot open {uri}: ".Length..];
        virsh.Should().Contain(detail);
    }

    [Fact]
    public void A_missing_library_is_reported_not_crashed_on()
    {
        LibvirtLibrary.Probe("libvirt-nonexistent.so.0")
            .Should().StartWith("libvirt: libvirt-nonexistent.so.0 cannot be loaded");
        LibvirtLibrary.Probe(Native.Library).Should().BeNull();
    }

    [Fact]
    public void Connections_are_closed_by_dispose()
    {
        RequireLibvirt();
        var connect = Connect.OpenReadOnly(TestUri);
        connect.Dispose();
        connect.Handle.IsClosed.Should().BeTrue();
        FluentActions.Invoking(() => connect.GetCapabilities()).Should().Throw<ObjectDisposedException>();
    }

    internal static string Run(string file, params string[] args) => Run(file, args, allowFailure: false);

    internal static string Run(string file, string a, string b, string c, string d, bool allowFailure) => Run(file, [a,
        b, c, d], allowFailure);

    private static string Run(string file, string[] args, bool allowFailure)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e) { throw new InvalidOperationException($"{file} is missing " +
            $"(Debian package libvirt-clients; run 'make deps'): {e.Message}"); }
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (!allowFailure && p.ExitCode != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)} " +
            $"failed: {stderr}");
        return stdout.Result + stderr;
    }
}
