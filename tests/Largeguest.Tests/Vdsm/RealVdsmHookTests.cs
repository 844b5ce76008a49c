using System.Text;
using Largeguest.Ksm;
using Largeguest.Tests.Support;

namespace Largeguest.Tests.Vdsm;

/// <summary>
/// The published hook under VDSM's own hook runner (hooks.py, <see cref="RealVdsmHooks"/>), next to another
/// product's hook: what holds today at the four hook points.
/// </summary>
public sealed class RealVdsmHookTests : IDisposable
{
    private readonly RealVdsmHooks _vdsm = new();
    public void Dispose() => _vdsm.Dispose();

    private static Dictionary<string, string> P(params (string Name,
        string Value)[] values) => values.ToDictionary(v => v.Name, v => v.Value);

    /// <summary>cputune, numatune and guestnuma that fit <see cref="EngineDomain"/> on the sample host.</summary>
    internal static Dictionary<string, string> AllThree() =>
        P(("cputune", "0-7#0-7,8-15#16-23,emulator#8-9"), ("numatune", "interleave#0-1"), ("guestnuma",
            "0-7#8G#0,8-15#8G#1"));

    /// <summary>The in-process rewrite on the sample host: the bytes the published hook must write.</summary>
    internal static string Rewritten(string xml, IReadOnlyDictionary<string, string> properties) =>
        Encoding.UTF8.GetString(Fixtures.Rewrite(Encoding.UTF8.GetBytes(xml), properties));

    internal static void ShouldHaveRun(RealHookRun run, params int[] rcs)
    {
        run.Scripts.Select(s => (s.Name, s.Rc)).Should().Equal(
            new[] { RealVdsmHooks.OurHook, RealVdsmHooks.OtherHook }.Take(rcs.Length).Zip(rcs), run.ToString());
        run.HooksFile.Should().Be(RealVdsmHooks.HooksPy, "hooks.py is VDSM's own, loaded unmodified from third_party");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("manual")]
    public void Before_vm_start_returns_the_rewritten_xml_and_the_other_hook_still_runs(string? cpuPolicy)
    {
        var custom = AllThree();
        var input = EngineDomain.Xml(custom, cpuPolicy, enginePins: cpuPolicy == "manual" ? [(0, "0"), (1,
            "1")] : null);
        var expected = Rewritten(input, custom);
        expected.Should().NotBe(input).And.Contain("<vcpupin vcpu=\"8\" cpuset=\"16-23\" />").And
            .Contain("<memory mode=\"interleave\" nodeset=\"0-1\" />");

        var run = _vdsm.Run("before_vm_start", input, custom);

        ShouldHaveRun(run, 0, 0);
        run.Raised.Should().BeFalse(run.ToString());
        run.Ours.Stderr.Should().BeEmpty();
        run.Xml.Should().Be(expected, "VDSM reads back exactly what the hook wrote");
        run.CallbackXml.Should().Be(expected, "the fresh-start flow defines the domain from this XML");
        run.Other.Should().NotBeNull("a success lets the later hooks run");
        run.Other!.Xml.Should().Be(expected, "the next hook reads the rewritten file");
    }

    [Fact]
    public void Hooks_get_the_custom_properties_vmId_and_vdsm_hook_on_PYTHONPATH_from_hooks_py()
    {
        var custom = P(("numatune", "interleave#0-1"), ("sap_agent", "true"));
        var run = _vdsm.Run("before_vm_start", EngineDomain.Xml(custom), custom,
            new RealHookOptions { VmId = "5e5e5e5e-0000-4000-8000-0000000000aa" });
        ShouldHaveRun(run, 0, 0);
        var env = run.Other!.Environment;
        env["numatune"].Should().Be("interleave#0-1");
        env["sap_agent"].Should().Be("true");
        env["vmId"].Should().Be("5e5e5e5e-0000-4000-8000-0000000000aa");
        env["_hook_domxml"].Should().StartWith(Path.GetTempPath().TrimEnd('/') + "/tmp", "hooks.py writes the XML to " +
            "a mkstemp file");
        env["PYTHONPATH"].Split(':').Should().EndWith(Path.Combine(RealVdsmHooks.VdsmLib, "vdsm", "hook"));
        env.Keys.Should().NotContain(["cputune", "guestnuma", "ksm_merge_across_nodes", "pincpu", "numa"],
            "the test process's own variables are dropped");
        env["LARGEGUEST_CONFIG"].Should().EndWith("empty-config.json");
        File.Exists(env["_hook_domxml"]).Should().BeFalse("hooks.py removes its temp file");
    }

    [Theory]
    [InlineData("cputune", "0#x", "in '0#x': bad token 'x'")]
    [InlineData("cputune", "0#64", "64")]
    [InlineData("numatune", "fast#0", "bad mode 'fast'")]
    [InlineData("guestnuma", "0-7#8G,8-13#8G", "vCPUs 14-15 are in no cell")]
    [InlineData("ksm_merge_across_nodes", "yes", "bad value 'yes'")]
    public void A_bad_property_raises_HookError_with_our_one_line_error_and_vdsm_keeps_the_input(string property,
        string value, string problem)
    {
        var custom = P((property, value));
        var input = EngineDomain.Xml(custom);

        var run = _vdsm.Run("before_vm_start", input, custom);

        ShouldHaveRun(run, 2);
        run.Other.Should().BeNull("exit 2 stops the later hooks (hooks.py breaks on rc 2)");
        run.Raised.Should().BeTrue("before_vm_start raises HookError for any non-zero exit: the VM does not start");
        run.HookError.Should().Be(run.Ours.Stderr).And.MatchRegex($"^largeguest: error: {property}: [^\n]+\n$").And
            .Contain(problem);
        run.CallbackXml.Should().Be(input, "the XML VDSM is left with is the input, byte for byte");
        run.Log.Should().ContainSingle(l => l.Contains($"{RealVdsmHooks.OurHook}: rc=2 err=b")).Which
            .Should().StartWith("INFO ");
    }

    [Theory]
    [InlineData("before_vm_start")]
    [InlineData("before_vm_migrate_destination")]
    [InlineData("before_vm_dehibernate")]
    [InlineData("after_vm_destroy")]
    public void No_property_of_ours_returns_the_xml_unchanged(string hookPoint)
    {
        var custom = P(("sap_agent", "true"), ("hugepages", "1048576"));
        foreach (var policy in new[] { null, "none", "manual" })
        {
            var input = EngineDomain.Xml(custom, policy);
            var run = _vdsm.Run(hookPoint, input, custom, new RealHookOptions { Params = new Dictionary<string,
                string> { ["FROM_SNAPSHOT"] = "False" } });
            ShouldHaveRun(run, 0, 0);
            run.Raised.Should().BeFalse();
            run.Ours.Stderr.Should().BeEmpty();
            run.Xml.Should().Be(input);
            run.Other!.Xml.Should().Be(input);
            if (hookPoint == "before_vm_dehibernate") run.Other.Environment["FROM_SNAPSHOT"]
                .Should().Be("False", "params become environment variables");
            else run.Other.Environment.Should().NotContainKey("FROM_SNAPSHOT");
        }
    }

    [Fact]
    public void After_vm_destroy_with_ksm_merge_across_nodes_releases_the_request()
    {
        var state = Directory.CreateTempSubdirectory("largeguest-realvdsm-ksm-").FullName;
        try
        {
            var requests = new KsmRequests(state);
            var vm = VmId.Parse(EngineDomain.VmId);
            requests.Register(new KsmRequest(vm, false, DateTimeOffset.UtcNow));
            File.Exists(requests.PathOf(vm)).Should().BeTrue();
            var custom = P(("ksm_merge_across_nodes", "0"), ("cputune", "0#0"));
            var input = EngineDomain.Xml(custom);

            var run = _vdsm.Run("after_vm_destroy", input, custom,
                new RealHookOptions { Environment = new Dictionary<string,
                    string?> { ["LARGEGUEST__Ksm__StateDir"] = state } });

            ShouldHaveRun(run, 0, 0);
            run.Raised.Should().BeFalse();
            run.Ours.Stderr.Should().BeEmpty();
            File.Exists(requests.PathOf(vm)).Should().BeFalse("after_vm_destroy releases the VM's KSM request");
            run.Xml.Should().Be(input, "after_vm_destroy does not touch the domain XML");
        }
        finally { Directory.Delete(state, recursive: true); }
    }

    [Theory]
    [InlineData("before_vm_migrate_destination")]
    [InlineData("before_vm_dehibernate")]
    public void A_request_this_host_cannot_give_raises_HookError_at_the_other_start_points(string hookPoint)
    {
        var custom = P(("cputune", "0#64"));
        var input = EngineDomain.Xml(custom, "manual");
        var run = _vdsm.Run(hookPoint, input, custom);
        ShouldHaveRun(run, 2);
        run.Raised.Should().BeTrue($"{hookPoint} raises HookError (raiseError=True): the migration or restore fails");
        run.HookError.Should().Be(run.Ours.Stderr).And.StartWith("largeguest: error: cputune: ").And.Contain("64");
        run.Xml.Should().BeNull();
    }
}
