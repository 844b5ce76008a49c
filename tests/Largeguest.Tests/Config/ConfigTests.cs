using Largeguest.Config;
using Largeguest.Grammar;

namespace Largeguest.Tests.Config;

public sealed class ConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("largeguest-config-").FullName;
    private readonly List<string> _warnings = [];

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string File(string json)
    {
        var path = Path.Combine(_dir, $"largeguest-{Guid.NewGuid():N}.json");
        System.IO.File.WriteAllText(path, json);
        return path;
    }

    private LargeguestConfig Load(string? json, params (string Key, string Value)[] env)
    {
        var environment = env.ToDictionary(e => e.Key, e => e.Value);
        if (json is not null) environment[LargeguestConfig.PathVariable] = File(json);
        return LargeguestConfig.Load(environment, privileged: false, _warnings.Add);
    }

    private ConfigException Fails(string? json, params (string Key, string Value)[] env) =>
        FluentActions.Invoking(() => Load(json, env)).Should().Throw<ConfigException>().Which;

    [Fact]
    public void An_empty_file_gives_the_documented_defaults()
    {
        var config = Load("{}");
        config.Should().Be(LargeguestConfig.Defaults);
        config.DefaultMode.Should().Be(NumaMode.Preferred);
        config.TopologySource.Should().Be(TopologySource.Auto);
        config.KsmMemoryReservePercent.Should().Be(10);
        _warnings.Should().BeEmpty();
    }

    [Fact]
    public void Every_key_named_by_the_issues_is_known_and_typed()
    {
        var config = Load("""
            { "Topology": { "Source": "sysfs", "LibvirtUri": "test:///default", "SysfsRoot": "/tmp/sys" },
              "NumaTune": { "DefaultMode": "Strict", "StrictMemory": "fail" },
              "Ksm": { "StateDir": "/run/x", "MemoryReservePercent": 25, "OnFailure": "fail",
                  "UnmergeTimeoutSeconds": 5,
                       "LockTimeoutSeconds": 7, "StaleGraceSeconds": 9, "DefaultMergeAcrossNodes": "0" } }
            """);
        _warnings.Should().BeEmpty();
        config.Should().Be(new LargeguestConfig(TopologySource.Sysfs, "test:///default", "/tmp/sys", NumaMode.Strict,
            StrictMemoryPolicy.Fail,
            "/run/x", 25, FailurePolicy.Fail, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(7),
                TimeSpan.FromSeconds(9), false));
    }

    [Fact]
    public void Guest_topology_mismatch_is_warn_by_default_and_fail_when_set()
    {
        Load("{}").GuestNumaTopologyMismatch.Should().Be(FailurePolicy.Warn);
        Load("""{ "GuestNuma": { "TopologyMismatch": "Fail" } }""").GuestNumaTopologyMismatch
            .Should().Be(FailurePolicy.Fail);
        _warnings.Should().BeEmpty();
    }

    [Fact]
    public void Malformed_json_is_an_error_naming_the_file()
    {
        var e = Fails("{\n  \"NumaTune\": { \"DefaultMode\": \"strict\" \"x\": 1 }\n}");
        e.Message.Should().MatchRegex(@"^/.*largeguest-\w+\.json: malformed JSON at line 2, byte 41$");
    }

    [Theory]
    [InlineData("""{ "Ksm": { "MemoryReservePercent": "lots" } }""", "Ksm:MemoryReservePercent")]
    [InlineData("""{ "Ksm": { "MemoryReservePercent": true } }""", "Ksm:MemoryReservePercent")]
    [InlineData("""{ "Ksm": { "UnmergeTimeoutSeconds": 1.5 } }""", "Ksm:UnmergeTimeoutSeconds")]
    [InlineData("""{ "Ksm": { "MemoryReservePercent": 95 } }""",
        "Ksm:MemoryReservePercent: bad value '95' (expected: a whole number from 0 to 90)")]
    [InlineData("""{ "NumaTune": { "DefaultMode": "fastest" } }""",
        "NumaTune:DefaultMode: bad value 'fastest' (expected: strict, preferred, interleave or restrictive)")]
    [InlineData("""{ "NumaTune": { "StrictMemory": "1" } }""",
        "NumaTune:StrictMemory: bad value '1' (expected: warn, prefer, fail)")]
    [InlineData("""{ "Topology": { "Source": "dns" } }""", "Topology:Source: bad value 'dns'")]
    [InlineData("""{ "Topology": { "LibvirtUri": " " } }""", "Topology:LibvirtUri: bad value ' '")]
    [InlineData("""{ "Ksm": { "DefaultMergeAcrossNodes": "yes" } }""",
        "Ksm:DefaultMergeAcrossNodes: bad value 'yes' (expected: 0, 1 or empty)")]
    [InlineData("""{ "Ksm": { "OnFailure": "panic" } }""", "Ksm:OnFailure: bad value 'panic'")]
    [InlineData("""{ "GuestNuma": { "TopologyMismatch": "ignore" } }""",
        "GuestNuma:TopologyMismatch: bad value 'ignore' (expected: warn, fail)")]
    public void A_wrong_type_or_value_is_an_error_naming_file_and_key(string json, string message)
    {
        var e = Fails(json);
        e.Message.Should().Contain(message).And.MatchRegex(@"^/.*\.json: ");
    }

    [Fact]
    public void Each_choice_key_spells_its_enum_values_in_order()
    {
        // The config reads choices through these tables (no enum reflection on the hook path), an index being the
        // value: they must be the enums' names, lower-case, in the order of values 0, 1, 2...
        static void Spelled<T>(string[] spellings) where T : struct, Enum
        {
            spellings.Should().Equal(Enum.GetNames<T>().Select(n => n.ToLowerInvariant()), typeof(T).Name);
            Enum.GetValues<T>().Select(v => Convert.ToInt32(v)).Should().Equal(Enumerable.Range(0, spellings.Length));
        }
        Spelled<StrictMemoryPolicy>(ChoiceSpellings.StrictMemory);
        Spelled<PreferredManyPolicy>(ChoiceSpellings.PreferredMany);
        Spelled<FailurePolicy>(ChoiceSpellings.Failure);
        Spelled<TopologySource>(ChoiceSpellings.Topology);
    }

    [Theory]
    [InlineData("""{ "Topology": { "Source": " LIBVIRT " } }""", TopologySource.Libvirt)]
    [InlineData("""{ "Topology": { "Source": "Sysfs" } }""", TopologySource.Sysfs)]
    [InlineData("""{ "Topology": { "Source": "auto" } }""", TopologySource.Auto)]
    public void A_choice_is_read_in_any_case_and_trimmed(string json, TopologySource expected) =>
        Load(json).TopologySource.Should().Be(expected);

    [Theory]
    [InlineData("""{ "NumaTune": "strict" }""", "NumaTune: expected a section of keys, found the value 'strict'")]
    [InlineData("""{ "NumaTune": { "DefaultMode": [ "strict" ] } }""",
        "NumaTune:DefaultMode: expected a single value, found an array or object")]
    [InlineData("""{ "NumaTune": { "DefaultMode": { "x": 1 } } }""",
        "NumaTune:DefaultMode: expected a single value, found an array or object")]
    [InlineData("""{ "Ksm": { "UnmergeTimeoutSeconds": [ 1 ] } }""",
        "Ksm:UnmergeTimeoutSeconds: expected a single value, found an array or object")]
    [InlineData("""[ 1 ]""", "malformed JSON")]
    public void A_section_or_value_of_the_wrong_shape_is_an_error_naming_the_key(string json, string message) =>
        Fails(json).Message.Should().MatchRegex(@"^/.*\.json: ").And.Contain(message);

    [Fact]
    public void An_array_for_a_section_reads_as_unknown_keys_in_it()
    {
        // {"Ksm": [1, 2]} is indistinguishable from keys "Ksm:0" and "Ksm:1" a newer product might know.
        Load("""{ "Ksm": [ 1, 2 ] }""").Should().Be(LargeguestConfig.Defaults);
        _warnings.Should().HaveCount(2).And.Contain(w => w.Contains("'Ksm:0'"));
    }

    [Fact]
    public void A_directory_named_by_LARGEGUEST_CONFIG_is_said_to_be_one() =>
        FluentActions.Invoking(() => LargeguestConfig.Load(new Dictionary<string,
            string> { ["LARGEGUEST_CONFIG"] = _dir }, false, _warnings.Add))
            .Should().Throw<ConfigException>()
                .WithMessage($"{_dir}: a directory, not a file (named by LARGEGUEST_CONFIG)");

    [Fact]
    public void An_unknown_key_is_one_warning_line_not_an_error()
    {
        var config = Load(
            """{ "NumaTune": { "DefaultMode": "interleave", "Colour": "blue" }, "Future": { "Knob": 3 } }""");
        config.DefaultMode.Should().Be(NumaMode.Interleave);
        _warnings.Should().HaveCount(2);
        _warnings.Should().ContainSingle(w => w.Contains("'NumaTune:Colour'"));
        _warnings.Should().ContainSingle(w => w.Contains("'Future:Knob'"));
        _warnings.Should().OnlyContain(w => !w.Contains('\n'));
    }

    [Fact]
    public void Environment_overrides_the_file_key_by_key()
    {
        var config = Load("""{ "NumaTune": { "DefaultMode": "strict", "StrictMemory": "fail" } }""",
            ("LARGEGUEST__NumaTune__DefaultMode", "interleave"), ("LARGEGUEST__Ksm__OnFailure", "fail"));
        config.DefaultMode.Should().Be(NumaMode.Interleave);
        config.StrictMemory.Should().Be(StrictMemoryPolicy.Fail);
        config.KsmOnFailure.Should().Be(FailurePolicy.Fail);
        _warnings.Should().BeEmpty();
    }

    [Theory]
    [InlineData("largeguest__ksm__onfailure")]
    [InlineData("LARGEGUEST__ksm__OnFailure")]
    [InlineData("Largeguest__Ksm__OnFailure")]
    public void An_override_spelled_differently_from_its_key_is_ignored_with_a_warning(string variable)
    {
        // VDSM puts every VM custom property into the hook's environment: only the exact spelling may act.
        var config = Load("{}", (variable, "fail"));
        config.KsmOnFailure.Should().Be(FailurePolicy.Warn);
        _warnings.Should().ContainSingle().Which.Should().Be(
            $"config: {variable} ignored: overrides are spelled exactly, LARGEGUEST__Ksm__OnFailure");
    }

    [Theory]
    [InlineData("largeguest__numatune", "LARGEGUEST__NumaTune")]
    [InlineData("LARGEGUEST__numatune", "LARGEGUEST__NumaTune")]
    [InlineData("largeguest__Ksm__OnFailure__0", "LARGEGUEST__Ksm__OnFailure__0")]
    [InlineData("Largeguest__Future__Knob", null)]
    public void A_differently_cased_variable_never_acts_and_never_fails_the_run(string variable, string? exact)
    {
        // A VM custom property of that name must neither override nor, by its shape, refuse the VM's start.
        var config = Load("{}", (variable, "strict"));
        config.DefaultMode.Should().Be(LargeguestConfig.Defaults.DefaultMode);
        config.KsmOnFailure.Should().Be(LargeguestConfig.Defaults.KsmOnFailure);
        _warnings.Should().ContainSingle().Which.Should().Be(exact is null
            ? $"config: {variable} ignored: overrides are spelled exactly, beginning LARGEGUEST__"
            : $"config: {variable} ignored: overrides are spelled exactly, {exact}");
    }

    [Theory]
    [InlineData("LARGEGUEST__NumaTune", "LARGEGUEST__NumaTune (environment): NumaTune: expected a section of keys, " +
        "found the value 'strict'")]
    [InlineData("LARGEGUEST__Ksm__OnFailure__0", "LARGEGUEST__Ksm__OnFailure__0 (environment): Ksm:OnFailure: " +
        "expected a single value, found an array or object")]
    public void A_misshapen_override_names_its_variable_not_the_file(string variable, string message) =>
        Fails(null, ("LARGEGUEST_CONFIG", File("{}")), (variable, "strict")).Message.Should().Be(message);

    [Fact]
    public void A_bad_override_names_its_variable_not_the_file()
    {
        var file = File("""{ "Topology": { "LibvirtUri": "qemu:///system" } }""");
        Fails(null, ("LARGEGUEST_CONFIG", file), ("LARGEGUEST__Topology__LibvirtUri", "")).Message
            .Should().Be("LARGEGUEST__Topology__LibvirtUri (environment): Topology:LibvirtUri: bad value '' " +
                "(expected: a non-empty value)");
        Fails("""{ "Topology": { "LibvirtUri": " " } }""").Message.Should().NotContain("environment");
    }

    [Fact]
    public void Environment_overrides_apply_without_a_file_and_are_validated_too()
    {
        var e = Fails(null, ("LARGEGUEST_CONFIG", File("{}")), ("LARGEGUEST__Ksm__MemoryReservePercent", "-1"));
        e.Message.Should().Contain("Ksm:MemoryReservePercent: bad value '-1'");
        Fails(null, ("LARGEGUEST_CONFIG", File("{}")), ("LARGEGUEST__Ksm__LockTimeoutSeconds", "soon")).Message.Should()
            .Contain("Ksm:LockTimeoutSeconds");
    }

    [Fact]
    public void An_unknown_environment_key_is_a_warning()
    {
        Load("{}", ("LARGEGUEST__Ksm__Turbo", "1"));
        _warnings.Should().ContainSingle().Which.Should().Contain("'Ksm:Turbo'");
    }

    [Fact]
    public void LARGEGUEST_CONFIG_names_the_file_and_a_missing_one_is_an_error()
    {
        var missing = Path.Combine(_dir, "nope.json");
        var e = FluentActions.Invoking(() => LargeguestConfig.Load(new Dictionary<string,
            string> { ["LARGEGUEST_CONFIG"] = missing }, false, _warnings.Add))
            .Should().Throw<ConfigException>().Which;
        e.Message.Should().Be($"{missing}: no such file (named by LARGEGUEST_CONFIG)");
    }

    /// <summary>A main file and, beside it, its drop-in directory <c>NAME.d</c> holding these files.</summary>
    private string WithDropIns(string main, params (string Name, string Json)[] dropIns)
    {
        var path = File(main);
        var dir = LargeguestConfig.DropInDirectoryFor(path);
        Directory.CreateDirectory(dir);
        foreach (var (name, json) in dropIns) System.IO.File.WriteAllText(Path.Combine(dir, name), json);
        return path;
    }

    private LargeguestConfig LoadFrom(string path, params (string Key, string Value)[] env) =>
        LargeguestConfig.Load(
            env.Append((LargeguestConfig.PathVariable, path)).ToDictionary(e => e.Item1, e => e.Item2),
            false, _warnings.Add);

    private ConfigException FailsFrom(string path) =>
        FluentActions.Invoking(() => LoadFrom(path)).Should().Throw<ConfigException>().Which;

    [Fact]
    public void The_drop_in_directory_is_beside_the_main_file()
    {
        LargeguestConfig.DropInDirectoryFor(LargeguestConfig.DefaultPath)
            .Should().Be("/etc/vdsm-hook-largeguest/largeguest.d");
        LargeguestConfig.DropInDirectoryFor("/tmp/x/test.json").Should().Be("/tmp/x/test.d");
    }

    [Fact]
    public void Drop_ins_apply_after_the_main_file_in_name_order_key_by_key()
    {
        var path = WithDropIns(
            """
            { "NumaTune": { "DefaultMode": "strict", "StrictMemory": "fail" }, "Ksm": { "LockTimeoutSeconds": 7 } }
            """,
            // Written out of order: the name decides, not the creation order; ordinal, so "10-" before "9-".
            ("50-later.json", """{ "NumaTune": { "DefaultMode": "interleave" } }"""),
            ("10-first.json", """{ "NumaTune": { "DefaultMode": "restrictive" }, "Ksm": { "OnFailure": "fail" } }"""),
            ("9-last.json", """{ "Ksm": { "LockTimeoutSeconds": 9 } }"""));
        var config = LoadFrom(path);
        config.DefaultMode.Should().Be(NumaMode.Interleave, "50-later.json is read after 10-first.json");
        config.StrictMemory.Should().Be(StrictMemoryPolicy.Fail, "a key no drop-in sets keeps the main file's value");
        config.KsmOnFailure.Should().Be(FailurePolicy.Fail);
        config.KsmLockTimeout.Should().Be(TimeSpan.FromSeconds(9), "9-last.json sorts after 50-later.json");
        _warnings.Should().BeEmpty();
    }

    [Fact]
    public void Environment_overrides_win_over_every_file()
    {
        var path = WithDropIns("""{ "Ksm": { "OnFailure": "warn" } }""",
            ("10-x.json", """{ "Ksm": { "OnFailure": "fail", "LockTimeoutSeconds": 3 } }"""));
        var config = LoadFrom(path, ("LARGEGUEST__Ksm__OnFailure", "warn"));
        config.KsmOnFailure.Should().Be(FailurePolicy.Warn);
        config.KsmLockTimeout.Should().Be(TimeSpan.FromSeconds(3));
    }

    [Fact]
    public void Only_visible_json_files_are_drop_ins()
    {
        var path = WithDropIns("{}",
            ("10-x.json.rpmsave", "not json at all"), ("10-x.json~", "{"), ("README", "read me"), (".#10-x.json", "{"),
            ("10-x.JSON", """{ "Ksm": { "OnFailure": "fail" } }"""));
        Directory.CreateDirectory(Path.Combine(LargeguestConfig.DropInDirectoryFor(path), "sub.d"));
        LoadFrom(path).Should().Be(LargeguestConfig.Defaults);
        _warnings.Should().BeEmpty();
    }

    [Fact]
    public void A_malformed_drop_in_is_an_error_naming_that_file()
    {
        var path = WithDropIns("{}",
            ("10-ok.json", "{}"), ("20-bad.json", "{\n  \"Ksm\": { \"OnFailure\": \"fail\", }\n  x\n}"));
        var dir = LargeguestConfig.DropInDirectoryFor(path);
        FailsFrom(path).Message.Should().Be($"{dir}/20-bad.json: malformed JSON at line 3, byte 3");
    }

    [Theory]
    [InlineData("""{ "Ksm": { "OnFailure": "panic" } }""", "Ksm:OnFailure: bad value 'panic' (expected: warn, fail)")]
    [InlineData("""{ "Ksm": { "LockTimeoutSeconds": "soon" } }""", "Ksm:LockTimeoutSeconds")]
    [InlineData("""{ "NumaTune": "strict" }""", "NumaTune: expected a section of keys, found the value 'strict'")]
    [InlineData("""{ "Ksm": { "StateDir": [ "/run/x" ] } }""",
        "Ksm:StateDir: expected a single value, found an array or object")]
    public void A_bad_value_in_a_drop_in_names_that_file_and_the_key(string json, string message)
    {
        var path = WithDropIns("""{ "Ksm": { "OnFailure": "warn", "LockTimeoutSeconds": 30 } }""",
            ("10-site.json", json), ("20-other.json", "{}"));
        FailsFrom(path).Message.Should().StartWith($"{LargeguestConfig.DropInDirectoryFor(path)}/10-site.json: ")
            .And.Contain(message);
    }

    [Fact]
    public void A_bad_value_in_the_main_file_names_the_main_file_even_with_drop_ins()
    {
        var path = WithDropIns("""{ "Ksm": { "OnFailure": "panic" } }""",
            ("10-site.json", """{ "Ksm": { "LockTimeoutSeconds": 5 } }"""));
        FailsFrom(path).Message.Should().StartWith($"{path}: Ksm:OnFailure: bad value 'panic'");
    }

    [Fact]
    public void A_drop_in_can_correct_a_bad_value_of_the_main_file()
    {
        // Values are validated once merged: what counts is the value that wins.
        var path = WithDropIns("""{ "Ksm": { "OnFailure": "panic" } }""",
            ("10-fix.json", """{ "Ksm": { "OnFailure": "fail" } }"""));
        LoadFrom(path).KsmOnFailure.Should().Be(FailurePolicy.Fail);
    }

    [Fact]
    public void An_unknown_key_in_a_drop_in_is_a_warning_naming_that_file()
    {
        var path = WithDropIns("{}", ("10-future.json", """{ "Ksm": { "Turbo": 1 } }"""));
        LoadFrom(path);
        _warnings.Should().ContainSingle().Which.Should()
            .Be($"config: unknown key 'Ksm:Turbo' ignored (from {Path.ChangeExtension(path, ".d")}/10-future.json)");
    }

    [Fact]
    public void A_drop_in_that_is_not_a_regular_file_or_a_drop_in_directory_that_is_not_a_directory_is_an_error()
    {
        var path = WithDropIns("{}");
        var dir = LargeguestConfig.DropInDirectoryFor(path);
        Directory.CreateDirectory(Path.Combine(dir, "10-dir.json"));
        FailsFrom(path).Message.Should().Be($"{dir}/10-dir.json: cannot read: not a regular file but a directory");

        Directory.Delete(dir, recursive: true);
        System.IO.File.WriteAllText(dir, "{}");
        FailsFrom(path).Message.Should().Be($"{dir}: cannot list the drop-in directory: Not a directory");
    }

    [Fact]
    public void Comments_and_trailing_commas_are_accepted()
    {
        var config = Load("""
            // the site's choice
            { /* block */ "Ksm": { "OnFailure": "fail", // line
                                   "LockTimeoutSeconds": 4, }, }
            """);
        config.KsmOnFailure.Should().Be(FailurePolicy.Fail);
        config.KsmLockTimeout.Should().Be(TimeSpan.FromSeconds(4));
    }

    [Fact]
    public void Every_documented_key_can_be_set_and_its_documented_default_is_the_default()
    {
        // ConfigKeys (docs, the shipped file, warnings) and LargeguestOptions.TrySet (what sets a value) list the
        // same keys: setting each to its documented default, in any case, changes nothing.
        var options = new LargeguestOptions();
        foreach (var key in ConfigKeys.All)
        {
            options.TrySet(key.Name, key.Default).Should().BeTrue(key.Name);
            options.TrySet(key.Name.ToUpperInvariant(), key.Default).Should().BeTrue(key.Name);
        }
        LargeguestConfig.FromOptions(options).Should().Be(LargeguestConfig.Defaults);
        new LargeguestOptions().TrySet("Ksm:Turbo", "1").Should().BeFalse();
    }

    [Fact]
    public void Every_key_takes_effect_from_the_file()
    {
        // Each key set to a value other than its default (one the key accepts) must change the loaded config.
        var changed = new Dictionary<string, string>
        {
            ["Topology:Source"] = "sysfs", ["Topology:LibvirtUri"] = "test:///default", ["Topology:SysfsRoot"] = "/x",
            ["Topology:NumadPath"] = "/x/numad", ["NumaTune:DefaultMode"] = "strict",
            ["NumaTune:StrictMemory"] = "fail", ["NumaTune:PreferredManyNodes"] = "interleave",
            ["CpuTune:SharedPolicy"] = "warn", ["GuestNuma:TopologyMismatch"] = "fail", ["Ksm:StateDir"] = "/run/x",
            ["Ksm:MemoryReservePercent"] = "20", ["Ksm:OnFailure"] = "fail", ["Ksm:UnmergeTimeoutSeconds"] = "60",
            ["Ksm:UnmergeSecondsPerGiB"] = "3", ["Ksm:LockTimeoutSeconds"] = "5", ["Ksm:StaleGraceSeconds"] = "6",
            ["Ksm:MaxRequests"] = "7", ["Ksm:DefaultMergeAcrossNodes"] = "1", ["Mom:ConfigPath"] = "/x/mom.conf",
        };
        foreach (var key in ConfigKeys.All.Where(k => k.Name.StartsWith("KsmTune:", StringComparison.Ordinal)))
            changed[key.Name] = key.Name.EndsWith("Milliseconds", StringComparison.Ordinal) ? "250" : "x";
        changed.Keys.Should().BeEquivalentTo(ConfigKeys.All.Select(k => k.Name));
        foreach (var (key, value) in changed)
        {
            var section = key[..key.IndexOf(':')];
            var json = $$"""{ "{{section}}": { "{{key[(section.Length + 1)..]}}": "{{value}}" } }""";
            Load(json).Should().NotBe(LargeguestConfig.Defaults, $"{key} = {value} must take effect");
        }
        _warnings.Should().BeEmpty();
    }

    [Theory]
    [InlineData("""{ "Ksm": { "OnFailure": "fail", "onfailure": "warn" } }""",
        "malformed JSON: the key 'Ksm:onfailure' is given twice")]
    [InlineData("\"strict\"", "malformed JSON: the top level is a string, not an object")]
    [InlineData("", "malformed JSON at line 1, byte 1")]
    [InlineData("{ } { }", "malformed JSON at line 1, byte 5")]
    public void A_file_that_is_not_one_object_of_distinct_keys_is_malformed(string json, string message) =>
        Fails(json).Message.Should().EndWith(message);

    [Fact]
    public void A_byte_order_mark_and_null_values_are_accepted()
    {
        var config = Load("\uFEFF" + """{ "Ksm": { "OnFailure": "fail", "LockTimeoutSeconds": null }, "Mom": { } }""");
        config.KsmOnFailure.Should().Be(FailurePolicy.Fail);
        config.KsmLockTimeout.Should().Be(LargeguestConfig.Defaults.KsmLockTimeout, "null leaves the default");
        _warnings.Should().BeEmpty();
    }

    [Fact]
    public void A_whole_number_key_given_other_text_names_the_key_and_what_it_takes()
    {
        Fails("""{ "Ksm": { "LockTimeoutSeconds": "soon" } }""").Message.Should()
            .EndWith("Ksm:LockTimeoutSeconds: bad value 'soon' (expected: a whole number)");
        Load("""{ "Ksm": { "LockTimeoutSeconds": " 12 " } }""").KsmLockTimeout.Should().Be(TimeSpan.FromSeconds(12));
    }

    [Fact]
    public void Privileged_mode_ignores_the_path_variable_and_environment_overrides()
    {
        var overrides = new Dictionary<string, string>
        {
            ["LARGEGUEST_CONFIG"] = File("""{ "NumaTune": { "DefaultMode": "fastest" } }"""),
            ["LARGEGUEST__NumaTune__DefaultMode"] = "also-bad",
        };
        // The named file's drop-ins are ignored as well: only the fixed file's largeguest.d counts.
        var named = LargeguestConfig.DropInDirectoryFor(overrides["LARGEGUEST_CONFIG"]);
        Directory.CreateDirectory(named);
        System.IO.File.WriteAllText(Path.Combine(named, "10-x.json"), """{ "Ksm": { "OnFailure": "panic" } }""");
        var plain = LargeguestConfig.Load(new Dictionary<string, string>(), privileged: true, _warnings.Add);
        LargeguestConfig.Load(overrides, privileged: true, _warnings.Add).Should().Be(plain);
    }
}
