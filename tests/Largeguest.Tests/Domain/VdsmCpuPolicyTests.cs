using System.Text;
using Largeguest.Config;
using Largeguest.Domain;
using Largeguest.Grammar;
using Largeguest.Hook;
using Largeguest.Tests.Support;

namespace Largeguest.Tests.Domain;

/// <summary>
/// What VDSM's CPU management does to our pins after boot (lib/Domain/VdsmCpuPolicy.cs, docs/vdsm-and-mom.md): the
/// engine's cpuPolicy metadata decides whether cputune/pincpu pins last, are refused, or are written with a warning.
/// </summary>
public class VdsmCpuPolicyTests
{
    /// <summary>The 16-vCPU engine-shaped domain with the engine's metadata as ovirt-engine 4.5 writes it.</summary>
    private static byte[] Xml(string? policy, string? manuallyPinned = null) =>
        Encoding.UTF8.GetBytes(EngineDomain.Xml(new Dictionary<string, string>(), policy, manuallyPinned));

    private static DomainDocument Domain(string? policy,
        string? manuallyPinned = null) => DomainDocument.Parse(Xml(policy, manuallyPinned));

    private static LargeguestProperties Props(params (string Name, string Value)[] values) =>
        LargeguestProperties.Parse(values.ToDictionary(v => v.Name, v => v.Value), NumaMode.Preferred);

    private static CpuPolicyFinding? Judge(string? policy, LargeguestProperties p,
        FailurePolicy shared = FailurePolicy.Fail,
        bool refuse = true, string? manuallyPinned = null)
    {
        var doc = Domain(policy, manuallyPinned);
        return VdsmCpuPolicy.Read(doc).Judge(p, doc.MaxVcpus, shared, refuse);
    }

    [Fact]
    public void Policy_none_refuses_vcpu_pins_and_says_what_to_set_in_the_engine()
    {
        var finding = Judge("none", Props(("cputune", "0-1#0-3,emulator#8")))!;
        finding.Refuse.Should().BeTrue();
        var error = finding.AsError();
        error.Property.Should().Be("cputune");
        error.Problem.Should().Be("the VM's CPU Pinning Policy is 'none': VDSM moves vCPUs 0-1 back to the host's " +
            "shared CPU pool " +
            "within a second of boot, so these pins would not last");
        error.Expected.Should().Contain("CPU Pinning Policy \"Manual\" with a pinning string").And
            .Contain("largeguest suggest")
            .And.Contain("VM pinned to its hosts").And.Contain("CpuTune:SharedPolicy=warn");
    }

    [Fact]
    public void Policy_none_with_SharedPolicy_warn_writes_the_pins_and_warns_they_will_not_last()
    {
        var finding = Judge("none", Props(("cputune", "3#0")), FailurePolicy.Warn)!;
        finding.Refuse.Should().BeFalse();
        finding.AsWarning().Should().StartWith("cputune: pins written, but the VM's CPU Pinning Policy is 'none': " +
            "VDSM moves vCPU 3 back")
            .And.Contain("these pins will not last");
    }

    [Fact]
    public void Pincpu_under_none_loses_every_vcpu()
    {
        var finding = Judge("none", Props(("pincpu", "0-3")))!;
        finding.AsError().Property.Should().Be("pincpu");
        finding.AsError().Problem.Should().Contain("VDSM moves vCPUs 0-15 back");
    }

    [Theory]
    [InlineData("numatune", "strict#0")]
    [InlineData("guestnuma", "0-7#4G,8-15#4G")]
    [InlineData("cputune", "emulator#8")] // VDSM re-pins vCPUs only: an emulator pin lasts
    [InlineData("cputune", "emulator#8,iothread1#9")] // and so do I/O thread pins (VDSM calls only pinVcpu)
    [InlineData("ksm_merge_across_nodes", "0")]
    public void Policy_none_leaves_everything_but_vcpu_pins_alone(string name, string value) =>
        Judge("none", Props((name, value))).Should().BeNull();

    [Theory]
    [InlineData("manual")]
    [InlineData(null)] // older engines: VDSM infers manual from the pins our rewrite writes
    public void Manual_or_absent_policy_keeps_the_pins(string? policy)
    {
        Judge(policy, Props(("cputune", "0-15#0-3"))).Should().BeNull();
        Judge(policy, Props(("pincpu", "0-3"))).Should().BeNull();
    }

    [Fact]
    public void Manual_with_an_engine_list_treats_the_vcpus_outside_it_as_shared()
    {
        Judge("manual", Props(("cputune", "0#0,1#1")), manuallyPinned: "0-1").Should().BeNull();
        var finding = Judge("manual", Props(("cputune", "0#0,1#1,2-3#2")), manuallyPinned: "0-1")!;
        finding.Refuse.Should().BeTrue();
        finding.AsError().Problem
            .Should().Be("the VM's CPU Pinning Policy is 'manual' but the engine's manuallyPinedCPUs (0-1) leaves " +
            "out vCPUs 2-3: " +
            "VDSM moves vCPUs 2-3 back to the host's shared CPU pool within a second of boot, so these pins would " +
                "not last");
    }

    [Theory]
    [InlineData("dedicated")]
    [InlineData("isolate-threads")]
    [InlineData("siblings")]
    public void Exclusive_policies_are_refused_whatever_SharedPolicy_says(string policy)
    {
        var finding = Judge(policy, Props(("cputune", "emulator#8")), FailurePolicy.Warn)!;
        finding.Refuse.Should().BeTrue();
        finding.AsError().Problem
            .Should().Be($"the VM's CPU Pinning Policy is '{policy}': the engine allocates this VM's CPUs " +
            "exclusively and VDSM pins them itself; largeguest does not pin over it");
        Judge(policy, Props(("numatune", "strict#0"))).Should().BeNull();
    }

    [Fact]
    public void An_unknown_policy_is_refused_naming_it_and_the_known_ones()
    {
        var error = Judge("turbo", Props(("cputune", "0#0")))!.AsError();
        error.Problem.Should().Contain("CPU Pinning Policy 'turbo', which largeguest does not know");
        error.Expected.Should().Be("one of none, manual, dedicated, isolate-threads, siblings");
    }

    [Fact]
    public void Where_VDSM_does_not_use_the_hook_XML_a_refusal_becomes_a_warning_that_claims_no_write()
    {
        var finding = Judge("none", Props(("cputune", "0#0")), refuse: false)!;
        finding.Refuse.Should().BeFalse();
        finding.AsWarning().Should().StartWith("cputune: the VM's CPU Pinning Policy is 'none'")
            .And.NotContain("pins written");
        Judge("dedicated", Props(("cputune", "0#0")), refuse: false)!.Refuse.Should().BeFalse();
    }

    [Fact]
    public void A_malformed_manuallyPinedCPUs_is_a_domain_error_naming_the_element()
    {
        FluentActions.Invoking(() => VdsmCpuPolicy.Read(Domain("manual", "0-x")))
            .Should().Throw<DomainXmlException>().WithMessage("domain XML: <ovirt-vm:manuallyPinedCPUs> '0-x': *");
    }

    [Fact]
    public void The_rewrite_refuses_before_touching_anything_and_keeps_other_metadata()
    {
        var input = Xml("none");
        FluentActions.Invoking(() => Fixtures.Rewrite(input, new Dictionary<string, string> { ["cputune"] = "0#0" }))
            .Should().Throw<PropertyException>().Which.Property.Should().Be("cputune");
        var manual = Xml("manual");
        var output = Encoding.UTF8.GetString(Fixtures.Rewrite(manual, new Dictionary<string,
            string> { ["cputune"] = "0#0" }));
        output.Should().Contain("<ovirt-vm:cpuPolicy>manual</ovirt-vm:cpuPolicy>").And
            .Contain("<vcpupin vcpu=\"0\" cpuset=\"0\" />");
    }

    [Fact]
    public void The_engine_pinning_string_carries_the_same_vcpu_pins()
    {
        var tune = CpuTune.Parse("0-1#0-3,^2,2#4-7,emulator#8");
        tune.ToEnginePinning().Should().Be("0#0-1,3_1#0-1,3_2#4-7");
        // Read back with our own grammar (engine entries are ours with '_' between them), the pins are identical.
        CpuTune.Parse(tune.ToEnginePinning().Replace('_', ',')).PinnedVcpus.Should().Equal(tune.PinnedVcpus);
    }
}
