using Largeguest.Tests.Support;
using static Largeguest.Tests.Support.HookAssertions;

namespace Largeguest.Tests.ProcessLevel;

/// <summary>The published hook run the way VDSM runs it (VdsmHookRunner): exit codes, stderr, file bytes and
/// inode.</summary>
public sealed class HookProcessTests : IDisposable
{
    private readonly VdsmHookRunner _vdsm = new() { DefaultEnvironment = SampleHost.Environment };
    public void Dispose() => _vdsm.Dispose();

    private static Dictionary<string, string> P(params (string Name,
        string Value)[] values) => values.ToDictionary(v => v.Name, v => v.Value);

    [Theory]
    [MemberData(nameof(Fixtures.All), MemberType = typeof(Fixtures))]
    public void Before_vm_start_writes_the_golden_bytes_by_atomic_replacement(GoldenCase golden)
    {
        var run = _vdsm.Run("before_vm_start", golden.Input, golden.Properties, environment: golden.Settings);
        run.ExitCodes.Should().Equal([0], run.ToString());
        if (golden.Warning is null) run.Stderr.Should().BeEmpty();
        else run.Stderr.Should().Contain(golden.Warning);
        run.Stdout.Should().BeEmpty();
        run.Xml.Should().Equal(File.ReadAllBytes(golden.ExpectedPath));
        run.After!.Inode.Should().NotBe(run.Before!.Inode, "the new XML replaces the file by rename");
        run.After.Permissions.Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite, "mkstemp's 0600 is kept");
        run.LeftoverFiles.Should().BeEmpty();
    }

    [Fact]
    public void A_rewrite_sweeps_the_temp_files_a_killed_hook_left_in_VDSM_s_directory_and_only_those()
    {
        var dir = Directory.CreateDirectory(Path.Combine(_vdsm.HooksRoot, "vdsm-tmp")).FullName;
        int dead;
        using (var p = System.Diagnostics.Process.Start("/bin/true")) { p.WaitForExit(); dead = p.Id; }
        var left = $".tmpkilled.largeguest-{dead}-0123abcd.tmp"; // what a hook killed between link and rename leaves
        var inFlight = $".tmpbusy.largeguest-{Environment.ProcessId}-0123abcd.tmp"; // a live writer's
        var other = ".tmpkilled.someone-else.tmp";
        foreach (var name in new[] { left, inFlight, other }) File.WriteAllText(Path.Combine(dir, name), "partial");
        var golden = Fixtures.Case("sap-all");

        var run = _vdsm.Run("before_vm_start", golden.Input, golden.Properties, new() { XmlDirectory = dir });

        run.ExitCodes.Should().Equal([0], run.ToString());
        run.Xml.Should().Equal(File.ReadAllBytes(golden.ExpectedPath));
        Directory.GetFileSystemEntries(dir).Select(Path.GetFileName).Should().BeEquivalentTo([inFlight, other]);
    }

    [Theory]
    [InlineData("before_vm_migrate_destination")]
    [InlineData("before_vm_dehibernate")]
    [InlineData("before_vm_start")]
    public void Already_rewritten_xml_is_accepted_unchanged(string hookPoint)
    {
        foreach (var golden in Fixtures.Cases)
        {
            var rewritten = File.ReadAllBytes(golden.ExpectedPath);
            var run = _vdsm.Run(hookPoint, rewritten, golden.Properties, environment: golden.Settings);
            run.ExitCodes.Should().Equal([0], $"{golden.Name}: {run}");
            // A note of the strict-memory policy is said at every run; a change beyond the request only once.
            if (golden.Settings is null) run.Stderr.Should().BeEmpty();
            ShouldBeUntouched(run, rewritten);
        }
    }

    [Fact]
    public void After_vm_destroy_leaves_the_xml_alone()
    {
        var golden = Fixtures.Case("sap-all");
        var run = _vdsm.Run("after_vm_destroy", golden.Input, golden.Properties);
        run.ExitCodes.Should().Equal([0], run.ToString());
        ShouldBeUntouched(run, golden.Input);
    }

    [Theory]
    [InlineData(0b110_100_000)] // 0640
    [InlineData(0b110_100_100)] // 0644
    [InlineData(0b111_000_000)] // 0700
    public void Atomic_replacement_keeps_the_file_mode(int mode)
    {
        var golden = Fixtures.Case("hana-all");
        var run = _vdsm.Run("before_vm_start", golden.Input, golden.Properties,
            new HookRunOptions { BeforeRun = path => File.SetUnixFileMode(path, (UnixFileMode)mode) });
        run.ExitCodes.Should().Equal([0], run.ToString());
        run.After!.Permissions.Should().Be((UnixFileMode)mode);
        run.After.Inode.Should().NotBe(run.Before!.Inode);
    }

    [Fact]
    public void No_property_of_ours_means_exit_0_at_once_and_the_file_untouched()
    {
        var input = Fixtures.Read("ovirt-sap-vdsm.xml");
        var run = _vdsm.Run("before_vm_start", input, P(("sap_agent", "true"), ("hugepages", "1048576")));
        run.ExitCodes.Should().Equal([0], run.ToString());
        run.Stderr.Should().BeEmpty();
        ShouldBeUntouched(run, input);
    }

    [Fact]
    public void Empty_values_count_as_not_set()
    {
        var input = Fixtures.Read("oneline.xml");
        var run = _vdsm.Run("before_vm_start", input, P(("cputune", ""), ("numatune", "  "), ("guestnuma", "")));
        run.ExitCodes.Should().Equal([0], run.ToString());
        ShouldBeUntouched(run, input);
    }

    [Fact]
    public void A_second_run_gives_the_same_bytes_and_does_not_touch_the_file()
    {
        var golden = Fixtures.Case("sap-all");
        var first = _vdsm.Run("before_vm_start", golden.Input, golden.Properties);
        var second = _vdsm.Run("before_vm_start", first.Xml, golden.Properties);
        second.ExitCodes.Should().Equal([0], second.ToString());
        ShouldBeUntouched(second, first.Xml);
    }

    [Theory]
    [InlineData("cputune", "0#x", "in '0#x': bad token 'x'")]
    [InlineData("cputune", "0#1,0#2", "vCPU 0 is pinned twice")]
    [InlineData("numatune", "fast#0", "bad mode 'fast'")]
    [InlineData("guestnuma", "0-7#8Q,8-15#8G", "unknown unit 'Q'")]
    [InlineData("pincpu", "1-", "bad token '1-'")]
    [InlineData("numa", "0", "no ':' between mode and nodeset")]
    [InlineData("ksm_merge_across_nodes", "yes", "bad value 'yes'")]
    [InlineData("cputune", "16#0", "vCPU 16 does not exist: the domain has 16 vCPUs")]
    [InlineData("cputune", "0#32", "32")]
    [InlineData("numatune", "strict#5", "5")]
    [InlineData("guestnuma", "0-7#8G,8-13#8G", "vCPUs 14-15 are in no cell: the cells cover 0-13 but the domain has " +
        "16 vCPUs")]
    [InlineData("guestnuma", "0-7#8G,8-15#4G", "the cells add up to 12582912 KiB (12 GiB) but the domain's initial " +
        "memory is 16777216 KiB (16 GiB)")]
    [InlineData("cputune", "0#1\n,1#2x", "bad token '2x'")]
    public void A_bad_property_is_one_line_naming_it_and_the_file_stays_byte_identical(string property, string value,
        string problem)
    {
        var input = Fixtures.Read("ovirt-hana-libvirt.xml");
        var run = _vdsm.Run("before_vm_start", input, P((property, value)));
        ShouldBeOneLineError(run, input, property, problem);
        run.Raised.Should().BeTrue("VDSM aborts the VM start");
    }

    [Fact]
    public void Error_lines_are_printable_and_bounded_whatever_the_value_holds()
    {
        var input = Fixtures.Read("ovirt-hana-libvirt.xml");
        var escape = _vdsm.Run("before_vm_start", input, P(("cputune", "0#\u001b[31mred")));
        ShouldBeOneLineError(escape, input, "cputune", "bad token '\\x1b[31mred'");
        escape.Stderr.Should().NotContain("\u001b", "a terminal control sequence must not reach the admin's terminal");

        var huge = _vdsm.Run("before_vm_start", input, P(("numatune", "strict#" + new string('9', 100_000))));
        huge.ExitCodes.Should().Equal([2], huge.ToString());
        var line = huge.Stderr.TrimEnd('\n');
        line.Should().StartWith("largeguest: error: numatune: ").And.Contain(" characters cut) ... ")
            .And.NotContain("\n");
        line.Should().EndWith("or auto (numad placement))", "the end of the message survives the cut");
        line.Length.Should().BeLessThanOrEqualTo(512, "VDSM's log gets lines of about 512 characters at most");
        ShouldBeUntouched(huge, input);

        // Warnings too: a config key of the future quoted whole, with an ESC in it, from a file the admin wrote.
        var config = Path.Combine(_vdsm.HooksRoot, "hostile-key.json");
        File.WriteAllText(config, "{ \"Future\\u001b[31m" + new string('k', 100_000) + "\": 1 }");
        var warned = _vdsm.Run("before_vm_start", input, P(("numatune", "0")),
            new HookRunOptions { Environment = new Dictionary<string, string?> { ["LARGEGUEST_CONFIG"] = config } });
        warned.ExitCodes.Should().Equal([0], warned.ToString());
        var warning = warned.Stderr.Split('\n',
            StringSplitOptions.RemoveEmptyEntries).Single(l => l.Contains("unknown key"));
        warning.Should().StartWith("largeguest: warning: config: unknown key 'Future\\x1b[31mkkk").And
            .Contain(" characters cut) ... ")
            .And.EndWith($"' ignored (from {config})").And.NotContain("\u001b");
        warning.Length.Should().BeLessThanOrEqualTo(512);
    }

    [Fact]
    public void Dimm_errors_show_the_numbers_through_the_binary_too()
    {
        var input = Fixtures.Read("ovirt-hotplug-libvirt.xml");
        ShouldBeOneLineError(_vdsm.Run("before_vm_start", input, P(("guestnuma", "0-7#8G"))), input, "guestnuma",
            "memory device 1 (dimm, 2 GiB) targets guest node 1, but the cells are 0");
        ShouldBeOneLineError(_vdsm.Run("before_vm_start", input, P(("guestnuma", "0-3#6G,4-7#6G"))), input, "guestnuma",
            "(<memory> 12 GiB minus 4 GiB in 2 memory device(s))");
    }

    [Theory]
    [InlineData("cputune")]
    [InlineData("cpu")]
    [InlineData("vcpu")]
    [InlineData("numatune")]
    public void A_second_element_libvirt_allows_once_is_exit_2_naming_it_and_the_file_stays_byte_identical(string name)
    {
        // Editing the first and leaving a contradictory second would hand libvirt two answers.
        var text = System.Text.Encoding.UTF8.GetString(Fixtures.Read("oneline.xml"));
        var second = name == "vcpu" ? "<vcpu>8</vcpu>" : $"<{name}/>";
        if (!text.Contains($"<{name}>") && !text.Contains($"<{name} ")) second += second;
        var input = System.Text.Encoding.UTF8.GetBytes(text.Replace("</domain>", second + "</domain>"));
        var run = _vdsm.Run("before_vm_start", input, P(("cputune", "0#0"), ("numatune", "0")));
        run.ExitCodes.Should().Equal([2], run.ToString());
        run.Stderr.Should().MatchRegex($"^largeguest: error: domain XML has 2 <{name}> elements; libvirt allows " +
            $"one[^\n]*\n$");
        ShouldBeUntouched(run, input);
    }

    [Fact]
    public void A_leading_xml_stylesheet_instruction_stays_one_copy_however_often_the_xml_is_rewritten()
    {
        var text = System.Text.Encoding.UTF8.GetString(Fixtures.Read("oneline.xml"));
        var input = System.Text.Encoding.UTF8.GetBytes("<?xml-stylesheet type='text/xsl' href='domain.xsl'?>\n" + text);
        var first = _vdsm.Run("before_vm_start", input, P(("cputune", "0#0")));
        first.ExitCodes.Should().Equal([0], first.ToString());
        var second = _vdsm.Run("before_vm_start", first.Xml, P(("cputune", "0#1")));
        second.ExitCodes.Should().Equal([0], second.ToString());
        foreach (var run in new[] { first, second })
        {
            run.XmlText.Should().StartWith("<?xml-stylesheet type='text/xsl' href='domain.xsl'?>\n<domain ");
            System.Text.RegularExpressions.Regex.Count(run.XmlText, "<\\?xml-stylesheet").Should().Be(1, run.XmlText);
        }
        second.XmlText.Should().Contain("<vcpupin vcpu='0' cpuset='1'/>");
    }

    [Theory]
    [MemberData(nameof(Fixtures.All), MemberType = typeof(Fixtures))]
    public void A_crlf_file_comes_back_all_crlf_with_the_golden_rewrite(GoldenCase golden)
    {
        // What we insert takes the file's line ending: the golden output, line for line, in CR LF.
        static byte[] Crlf(byte[] lf) =>
            System.Text.Encoding.UTF8.GetBytes(System.Text.Encoding.UTF8.GetString(lf).ReplaceLineEndings("\r\n"));
        var run = _vdsm.Run("before_vm_start", Crlf(golden.Input), golden.Properties, environment: golden.Settings);
        run.ExitCodes.Should().Equal([0], run.ToString());
        System.Text.RegularExpressions.Regex.Count(run.XmlText, "(?<!\r)\n")
            .Should().Be(0, "no bare LF may appear in a CR LF file");
        run.XmlText.Should().Be(System.Text.Encoding.UTF8.GetString(Crlf(File.ReadAllBytes(golden.ExpectedPath))));
    }

    [Fact]
    public void Xml_that_is_not_a_domain_is_a_one_line_error()
    {
        byte[] input = "<domain type='kvm'><vcpu>4</vcpu>"u8.ToArray();
        var run = _vdsm.Run("before_vm_start", input, P(("cputune", "0#0")));
        run.ExitCodes.Should().Equal([2]);
        run.Stderr.Should().MatchRegex("^largeguest: error: domain XML is not well-formed: [^\n]+\n$");
        ShouldBeUntouched(run, input);
    }

    [Fact]
    public void An_unknown_hook_directory_is_exit_2_naming_it()
    {
        _vdsm.InstallAt("before_vm_frobnicate");
        var input = Fixtures.Read("oneline.xml");
        var run = _vdsm.Run("before_vm_frobnicate", input, P(("cputune", "0#0")));
        run.ExitCodes.Should().Equal([2]);
        run.Stderr.Should().MatchRegex("^largeguest: error: cannot tell the hook point from " +
            "'[^']*/before_vm_frobnicate/50_largeguest'[^\n]*\n$");
        ShouldBeUntouched(run, input);
    }

    [Fact]
    public void Exit_2_stops_the_later_hooks_and_success_lets_them_see_the_new_xml()
    {
        var seen = Path.Combine(_vdsm.HooksRoot, "seen-by-60.xml");
        _vdsm.AddScript("before_vm_start", "60_after", $"cp \"$_hook_domxml\" '{seen}'");
        var golden = Fixtures.Case("oneline-all");

        var failed = _vdsm.Run("before_vm_start", golden.Input, P(("cputune", "0#bad")));
        failed.ExitCodes.Should().Equal([2], "VDSM stops at exit 2: 60_after must not run");
        File.Exists(seen).Should().BeFalse();

        var ok = _vdsm.Run("before_vm_start", golden.Input, golden.Properties);
        ok.ExitCodes.Should().Equal([0, 0]);
        File.ReadAllBytes(seen)
            .Should().Equal(File.ReadAllBytes(golden.ExpectedPath), "the next hook reads the rewritten file");
    }

    [Fact]
    public void Not_run_by_vdsm_is_an_error_not_a_silent_success()
    {
        var input = Fixtures.Read("oneline.xml");
        var run = _vdsm.Run("before_vm_start", input, P(), new HookRunOptions { Environment = new Dictionary<string,
            string?> { ["_hook_domxml"] = null } });
        run.ExitCodes.Should().Equal([2]);
        run.Stderr.Should().MatchRegex("^largeguest: error: not run by VDSM: neither _hook_domxml nor any of " +
            "cputune, [^\n]+\n$");
    }

    [Fact]
    public void A_property_without_hook_domxml_is_an_error_naming_the_variable()
    {
        var input = Fixtures.Read("oneline.xml");
        var run = _vdsm.Run("before_vm_start", input, P(("cputune", "0#0")),
            new HookRunOptions { Environment = new Dictionary<string, string?> { ["_hook_domxml"] = null } });
        run.ExitCodes.Should().Equal([2]);
        run.Stderr.Should().Be("largeguest: error: _hook_domxml: not set (expected: the path of the domain XML, set " +
            "by VDSM)\n");
        run.Xml.Should().Equal(input);
    }

    [Fact]
    public void A_config_file_with_a_wrong_type_is_exit_2_naming_file_and_key()
    {
        var config = Path.Combine(_vdsm.HooksRoot, "bad.json");
        File.WriteAllText(config, """{ "NumaTune": { "DefaultMode": 3 } }""");
        var input = Fixtures.Read("ovirt-hana-libvirt.xml");
        var run = _vdsm.Run("before_vm_start", input, P(("numatune", "0-1")),
            new HookRunOptions { Environment = new Dictionary<string, string?> { ["LARGEGUEST_CONFIG"] = config } });
        run.ExitCodes.Should().Equal([2]);
        run.Stderr.Should().Be($"largeguest: error: {config}: NumaTune:DefaultMode: bad value '3' (expected: strict, " +
            $"preferred, interleave or restrictive)\n");
        ShouldBeUntouched(run, input);
    }

    [Theory]
    [InlineData("{\n  \"NumaTune\": {\n    \"DefaultMode\": \"strict\" \"x\": 1 }\n}", "malformed JSON at line 3, " +
        "byte 29")]
    [InlineData("{ \"a\":", "malformed JSON at line 1, byte 7")]
    [InlineData("", "malformed JSON at line 1, byte 1")]
    [InlineData("{ \"Ksm\": { \"MemoryReservePercent\": \"lots\" } }",
        "Ksm:MemoryReservePercent: bad value 'lots' (expected: a whole number)")]
    public void A_malformed_config_file_says_where_in_the_published_binary_too(string json, string message)
    {
        // The AOT binary has no resource strings: the message must not depend on them.
        var config = Path.Combine(_vdsm.HooksRoot, "malformed.json");
        File.WriteAllText(config, json);
        var input = Fixtures.Read("oneline.xml");
        var run = _vdsm.Run("before_vm_start", input, P(("cputune", "0#0")),
            new HookRunOptions { Environment = new Dictionary<string, string?> { ["LARGEGUEST_CONFIG"] = config } });
        run.ExitCodes.Should().Equal([2]);
        run.Stderr.Should().StartWith($"largeguest: error: {config}: ").And.Contain(message).And.EndWith("\n");
        run.Stderr.TrimEnd('\n').Should().NotContain("\n");
        ShouldBeUntouched(run, input);
    }

    [Fact]
    public void Config_and_environment_choose_the_default_numatune_mode_and_unknown_keys_only_warn()
    {
        var config = Path.Combine(_vdsm.HooksRoot, "strict.json");
        File.WriteAllText(config, """{ "NumaTune": { "DefaultMode": "strict", "FutureKnob": 1 } }""");
        var input = Fixtures.Read("oneline.xml");
        var fromFile = _vdsm.Run("before_vm_start", input, P(("numatune", "0")),
            new HookRunOptions { Environment = new Dictionary<string, string?> { ["LARGEGUEST_CONFIG"] = config } });
        fromFile.ExitCodes.Should().Equal([0]);
        fromFile.Stderr.Should()
            .Be($"largeguest: warning: config: unknown key 'NumaTune:FutureKnob' ignored (from {config})\n");
        fromFile.XmlText.Should().Contain("<numatune><memory mode='strict' nodeset='0'/></numatune>");

        var fromEnv = _vdsm.Run("before_vm_start", input, P(("numatune", "0")),
            new HookRunOptions { Environment = new Dictionary<string, string?> { ["LARGEGUEST_CONFIG"] = config,
                ["LARGEGUEST__NumaTune__DefaultMode"] = "interleave" } });
        fromEnv.XmlText.Should().Contain("<numatune><memory mode='interleave' nodeset='0'/></numatune>");

        // The drop-in directory beside the named file (strict.d/) is read after it; the environment still wins.
        var dropIns = Directory.CreateDirectory(Path.Combine(_vdsm.HooksRoot, "strict.d")).FullName;
        File.WriteAllText(Path.Combine(dropIns, "50-site.json"), """{ "NumaTune": { "DefaultMode": "interleave" } }""");
        try
        {
            var named = new HookRunOptions
            {
                Environment = new Dictionary<string, string?> { ["LARGEGUEST_CONFIG"] = config },
            };
            var fromDropIn = _vdsm.Run("before_vm_start", input, P(("numatune", "0")), named);
            fromDropIn.ExitCodes.Should().Equal([0], fromDropIn.ToString());
            fromDropIn.XmlText.Should().Contain("<numatune><memory mode='interleave' nodeset='0'/></numatune>");
            var envOverDropIn = _vdsm.Run("before_vm_start", input, P(("numatune", "0")),
                new HookRunOptions
                {
                    Environment = new Dictionary<string, string?>
                    {
                        ["LARGEGUEST_CONFIG"] = config, ["LARGEGUEST__NumaTune__DefaultMode"] = "strict",
                    },
                });
            envOverDropIn.XmlText.Should().Contain("<numatune><memory mode='strict' nodeset='0'/></numatune>");
        }
        finally { Directory.Delete(dropIns, recursive: true); }

        // A VM custom property cased differently from an override never acts, nor fails the start by its shape.
        foreach (var variable in new[] { "largeguest__numatune__defaultmode", "largeguest__numatune" })
        {
            var cased = _vdsm.Run("before_vm_start", input, P(("numatune", "0"), (variable, "interleave")));
            cased.ExitCodes.Should().Equal([0], cased.ToString());
            cased.Stderr.Should().StartWith($"largeguest: warning: config: {variable} ignored: overrides are spelled " +
                $"exactly");
            cased.XmlText.Should().Contain("<numatune><memory mode='preferred' nodeset='0'/></numatune>");
        }
    }
}
