using Largeguest.Tests.Support;
using static Largeguest.Tests.Vdsm.RealVdsmHookTests;

namespace Largeguest.Tests.Vdsm;

/// <summary>
/// The behaviour at VDSM's hook points (docs/vdsm-and-mom.md), through VDSM's real hooks.py
/// (<see cref="RealVdsmHooks"/>):
/// the engine's <c>cpuPolicy</c> decides whether pins can last, <c>after_vm_destroy</c> never stops other
/// products' hooks, and <c>before_vm_migrate_destination</c> / <c>before_vm_dehibernate</c> (whose XML VDSM
/// discards) validate without claiming a rewrite.
/// </summary>
public sealed class RealVdsmHookPointTests : IDisposable
{
    private readonly RealVdsmHooks _vdsm = new();
    public void Dispose() => _vdsm.Dispose();

    private static Dictionary<string, string> P(params (string Name,
        string Value)[] values) => values.ToDictionary(v => v.Name, v => v.Value);

    private static Dictionary<string, string> Pins(string property) =>
        property == "pincpu" ? P(("pincpu", "0-15")) : P(("cputune", "0-7#0-7,8-15#16-23,emulator#8-9"));

    private const string WarnOnShared = """{ "CpuTune": { "SharedPolicy": "warn" } }""";

    private static void ShouldBeRefused(RealHookRun run, string input, string property)
    {
        ShouldHaveRun(run, 2);
        run.Other.Should().BeNull("exit 2 stops the later hooks");
        run.Raised.Should().BeTrue("the VM must not start with pins that would not last");
        run.HookError.Should().Be(run.Ours.Stderr).And.MatchRegex($"^largeguest: error: {property}: [^\n]+\n$");
        run.CallbackXml.Should().Be(input, "a refusal leaves the XML byte-identical");
    }

    // ---- (a) the engine's CPU pinning policy ----

    /// <summary>docs/vdsm-and-mom.md: with <c>none</c> VDSM pins every vCPU to the shared pool right after the
    /// start.</summary>
    [Theory]
    [InlineData("cputune")]
    [InlineData("pincpu")]
    public void Pins_under_cpuPolicy_none_are_refused_saying_what_vdsm_does_and_what_to_set_in_the_engine(
        string property)
    {
        var custom = Pins(property);
        var input = EngineDomain.Xml(custom, "none");
        var run = _vdsm.Run("before_vm_start", input, custom);
        ShouldBeRefused(run, input, property);
        run.HookError.Should().Contain("shared CPU pool", "VDSM moves the vCPUs back to the shared CPU pool")
            .And.ContainEquivalentOf("CPU Pinning Policy").And.Contain("Manual");
    }

    /// <summary>docs/vdsm-and-mom.md: <c>CpuTune:SharedPolicy</c> = warn writes the pins and says they will not
    /// last.</summary>
    [Fact]
    public void Pins_under_cpuPolicy_none_with_SharedPolicy_warn_are_written_with_a_warning()
    {
        var custom = Pins("cputune");
        var input = EngineDomain.Xml(custom, "none");
        var expected = EngineDomain.WithCpuPolicy(Rewritten(EngineDomain.Xml(custom), custom), "none");
        expected.Should().NotBe(input);

        var run = _vdsm.Run("before_vm_start", input, custom, new RealHookOptions { ConfigJson = WarnOnShared });

        ShouldHaveRun(run, 0, 0);
        run.Raised.Should().BeFalse(run.ToString());
        run.Xml.Should().Be(expected);
        run.Ours.Stderr.Should().NotContain("unknown key", "CpuTune:SharedPolicy is a key of the product")
            .And.MatchRegex("^largeguest: warning: [^\n]+\n$").And.Contain("shared CPU pool");
        run.Log.Should().Contain(l => l.Contains($"{RealVdsmHooks.OurHook}: rc=0 err=b") && l.Contains("largeguest: " +
            "warning: "),
            "VDSM's log carries the warning");
    }

    /// <summary>docs/vdsm-and-mom.md: the engine owns the CPUs of the exclusive policies, whatever SharedPolicy
    /// says.</summary>
    [Theory]
    [InlineData("dedicated", "cputune")]
    [InlineData("isolate-threads", "cputune")]
    [InlineData("siblings", "cputune")]
    [InlineData("dedicated", "pincpu")]
    [InlineData("siblings", "pincpu")]
    public void Pins_under_the_engines_exclusive_policies_are_refused(string cpuPolicy, string property)
    {
        var custom = Pins(property);
        var input = EngineDomain.Xml(custom, cpuPolicy);
        foreach (var config in new[] { null, WarnOnShared })
        {
            var run = _vdsm.Run("before_vm_start", input, custom, new RealHookOptions { ConfigJson = config });
            ShouldBeRefused(run, input, property);
            run.HookError.Should().Contain(cpuPolicy, "the refusal names the engine's policy");
        }
    }

    /// <summary>Holds today and must keep holding: manual (with or without VDSM's manuallyPinedCPUs) or no policy
    /// rewrite as before.</summary>
    [Theory]
    [InlineData(null, null, "cputune")]
    [InlineData("manual", null, "cputune")]
    [InlineData(null, null, "pincpu")]
    [InlineData("manual", null, "pincpu")]
    public void Pins_under_manual_or_no_policy_are_written_as_today(string? cpuPolicy, string? manuallyPinned,
        string property)
    {
        var custom = Pins(property);
        var input = EngineDomain.Xml(custom, cpuPolicy, manuallyPinned, cpuPolicy == "manual" ? [(0, "0"), (1,
            "1")] : null);
        var expected = Rewritten(input, custom);
        expected.Should().NotBe(input);

        var run = _vdsm.Run("before_vm_start", input, custom);

        ShouldHaveRun(run, 0, 0);
        run.Ours.Stderr.Should().BeEmpty();
        run.Xml.Should().Be(expected);
        run.Other!.Xml.Should().Be(expected);
    }

    /// <summary>
    /// With the engine's manuallyPinedCPUs VDSM leaves only those vCPUs alone: pins of other vCPUs are treated as under
    /// <c>none</c>, pins within the list are written.
    /// </summary>
    [Fact]
    public void Under_manual_with_an_engine_list_only_the_listed_vcpus_may_be_pinned()
    {
        var within = P(("cputune", "0#0,1#1,emulator#8-9"));
        var input = EngineDomain.Xml(within, "manual", "0,1", [(0, "0"), (1, "1")]);
        var run = _vdsm.Run("before_vm_start", input, within);
        ShouldHaveRun(run, 0, 0);
        run.Xml.Should().Be(Rewritten(input, within));

        var beyond = Pins("cputune");
        var refusedInput = EngineDomain.Xml(beyond, "manual", "0,1", [(0, "0"), (1, "1")]);
        var refused = _vdsm.Run("before_vm_start", refusedInput, beyond);
        ShouldBeRefused(refused, refusedInput, "cputune");
        refused.HookError.Should().Contain("manuallyPinedCPUs (0-1) leaves out vCPUs 2-15");
    }

    /// <summary>Holds today and must keep holding: memory binding and guest NUMA do not fight VDSM's CPU
    /// management.</summary>
    [Theory]
    [InlineData("numatune", "interleave#0-1")]
    [InlineData("guestnuma", "0-7#8G#0,8-15#8G#1")]
    public void Numatune_or_guestnuma_alone_under_cpuPolicy_none_are_written(string property, string value)
    {
        var custom = P((property, value));
        var expected = EngineDomain.WithCpuPolicy(Rewritten(EngineDomain.Xml(custom), custom), "none");
        var input = EngineDomain.Xml(custom, "none");
        expected.Should().NotBe(input);

        var run = _vdsm.Run("before_vm_start", input, custom);

        ShouldHaveRun(run, 0, 0);
        run.Ours.Stderr.Should().BeEmpty();
        run.Xml.Should().Be(expected);
    }

    // ---- (b) after_vm_destroy: VDSM ignores failures, but exit 2 would skip the later hooks ----

    /// <summary>docs/vdsm-and-mom.md: a failure at after_vm_destroy exits 1, so that 60_other still runs.</summary>
    [Theory]
    [InlineData("""{ "a":""", "ksm_merge_across_nodes", "0", "malformed JSON")]
    [InlineData(null, "ksm_merge_across_nodes", "yes", "ksm_merge_across_nodes: bad value 'yes'")]
    public void A_failing_after_vm_destroy_exits_1_and_the_other_hooks_still_run(string? configJson, string property,
        string value, string problem)
    {
        var custom = P((property, value));
        var input = EngineDomain.Xml(custom);

        var run = _vdsm.Run("after_vm_destroy", input, custom, new RealHookOptions { ConfigJson = configJson });

        ShouldHaveRun(run, 1, 0);
        run.Other.Should().NotBeNull("60_other's cleanup must not be skipped");
        run.Raised.Should().BeFalse("after_vm_destroy ignores hook failures");
        run.Ours.Stderr.Should().MatchRegex("^largeguest: error: [^\n]+\n$").And.Contain(problem);
        run.Log.Should().NotContain(l => l.Contains("unexpected return code"));
        run.Xml.Should().Be(input);
    }

    // ---- (c) migration destination and restore: VDSM discards the hook's XML ----

    /// <summary>Holds today and must keep holding: XML the source host's hook rewrote is accepted unchanged.</summary>
    [Theory]
    [InlineData("before_vm_migrate_destination")]
    [InlineData("before_vm_dehibernate")]
    public void Already_rewritten_xml_is_returned_identical(string hookPoint)
    {
        var custom = AllThree();
        var input = Rewritten(EngineDomain.Xml(custom, "manual"), custom);

        var run = _vdsm.Run(hookPoint, input, custom, new RealHookOptions { Params = new Dictionary<string,
            string> { ["FROM_SNAPSHOT"] = "False" } });

        ShouldHaveRun(run, 0, 0);
        run.Raised.Should().BeFalse();
        run.Ours.Stderr.Should().BeEmpty();
        run.Xml.Should().Be(input);
    }

    /// <summary>docs/vdsm-and-mom.md: the source host did not have the hook; a rewrite here would be discarded, so none
    /// is claimed.</summary>
    [Theory]
    [InlineData("before_vm_migrate_destination")]
    [InlineData("before_vm_dehibernate")]
    public void Xml_lacking_what_the_properties_ask_is_not_rewritten_and_a_warning_says_until_the_next_start(
        string hookPoint)
    {
        var custom = AllThree();
        var input = EngineDomain.Xml(custom, "manual");

        var run = _vdsm.Run(hookPoint, input, custom, new RealHookOptions { Params = new Dictionary<string,
            string> { ["FROM_SNAPSHOT"] = "False" } });

        ShouldHaveRun(run, 0, 0);
        run.Raised.Should().BeFalse();
        run.Xml.Should().Be(input, "the file is not rewritten: VDSM would discard it");
        run.Other!.Xml.Should().Be(input);
        var lines = run.Ours.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Should().NotBeEmpty().And.OnlyContain(l => l.StartsWith("largeguest: warning: "));
        run.Ours.Stderr.Should().Contain("next start").And.Contain("cputune").And.Contain("numatune").And
            .Contain("guestnuma");
    }

    /// <summary>Holds today and must keep holding: pins a bigger source host wrote, which this host cannot
    /// give.</summary>
    [Fact]
    public void Pins_to_a_cpu_this_host_lacks_raise_HookError_at_the_migration_destination()
    {
        var fits = P(("cputune", "0#31"));
        var rewritten = Rewritten(EngineDomain.Xml(fits, "manual"), fits);
        rewritten.Should().Contain("<vcpupin vcpu=\"0\" cpuset=\"31\" />");
        var custom = P(("cputune", "0#64"));
        var input = rewritten.Replace("<vcpupin vcpu=\"0\" cpuset=\"31\" />", "<vcpupin vcpu=\"0\" cpuset=\"64\" />")
            .Replace("<ovirt-vm:cputune>0#31</ovirt-vm:cputune>", "<ovirt-vm:cputune>0#64</ovirt-vm:cputune>");

        var run = _vdsm.Run("before_vm_migrate_destination", input, custom);

        ShouldHaveRun(run, 2);
        run.Raised.Should().BeTrue("the migration fails here rather than pinning to a CPU this host does not have");
        run.HookError.Should().Be(run.Ours.Stderr).And.MatchRegex("^largeguest: error: cputune: [^\n]+\n$").And
            .Contain("64");
    }
}
