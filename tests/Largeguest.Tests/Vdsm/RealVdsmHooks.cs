using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Largeguest.Tests.Packaging;
using Largeguest.Tests.Support;

namespace Largeguest.Tests.Vdsm;

/// <summary>One hook script as VDSM's hooks.py logged it (<c>'%s: rc=%s err=%s'</c>).</summary>
public sealed record VdsmScriptRun(string Script, int Rc, string Stderr)
{
    public string Name => Path.GetFileName(Script);
}

/// <summary>What <see cref="RealVdsmHooks.OtherHook"/> saw: its environment and the domain XML file as it found
/// it.</summary>
public sealed record OtherHookRun(IReadOnlyDictionary<string, string> Environment, string Xml);

/// <summary>What one call of VDSM's real hook function did.</summary>
/// <param name="Xml">What the function returned (VDSM reads the file back after the hooks); null when it
/// raised.</param>
/// <param name="HookError">The HookError's argument (hooks.py passes a hook's stderr bytes), decoded; null when none
/// was raised.</param>
/// <param name="CallbackXml">What before_vm_start's final_callback received (vm.py's fresh start: the XML it will
/// define); null when not called.</param>
/// <param name="Log">Every log record hooks.py wrote, as "LEVEL message".</param>
/// <param name="Other">What 60_other saw, or null when it did not run.</param>
public sealed record RealHookRun(string HookPoint, string? Xml, string? HookError, string? CallbackXml,
    IReadOnlyList<string> Log, IReadOnlyList<VdsmScriptRun> Scripts, OtherHookRun? Other, string HooksFile,
        TimeSpan Elapsed)
{
    public bool Raised => HookError is not null;

    /// <summary>Our hook's run (it must have run exactly once).</summary>
    public VdsmScriptRun Ours => Scripts
        .Should().ContainSingle(s => s.Name == RealVdsmHooks.OurHook, ToString()).Subject;

    public override string ToString() =>
        $"{HookPoint}: " + string.Join("; ", Scripts.Select(s => $"{s.Name} rc={s.Rc} stderr={s.Stderr.TrimEnd()}")) +
        (HookError is null ? ", no HookError" : $", HookError: {HookError.TrimEnd()}") +
        $", log: [{string.Join(" | ", Log)}]";
}

/// <summary>How to call a hook point, beyond the defaults.</summary>
public sealed class RealHookOptions
{
    public string VmId { get; init; } = EngineDomain.VmId;

    /// <summary>before_vm_dehibernate's params (vm.py: <c>{'FROM_SNAPSHOT': str(fromSnapshot)}</c>).</summary>
    public IReadOnlyDictionary<string, string>? Params { get; init; }

    /// <summary>Added to (null: removed from) VDSM's environment, which hooks.py copies for every hook.</summary>
    public IReadOnlyDictionary<string, string?>? Environment { get; init; }

    /// <summary>A configuration file's content; LARGEGUEST_CONFIG names it (default: an empty configuration).</summary>
    public string? ConfigJson { get; init; }

    /// <summary>before_vm_start with a final_callback, as vm.py's fresh start calls it (false: as its restore flow,
    /// which ignores the output).</summary>
    public bool FinalCallback { get; init; } = true;

    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);
}

/// <summary>
/// VDSM's real hook runner (<c>lib/vdsm/common/hooks.py</c> from ../shared/third_party, unmodified) driving the
/// published binary. A private tree laid out as the RPM installs it
/// (<c>libexec/vdsm/hooks/&lt;point&gt;/50_largeguest</c>
/// -> <c>../../../vdsm-hook-largeguest/largeguest</c>, which is the published binary) with another product's hook,
/// <see cref="OtherHook"/>, after ours in each of the four directories; <c>Vdsm/vdsm_hooks_driver.py</c> (run with
/// /usr/bin/python3) supplies the stand-ins hooks.py needs and calls the hook function with <c>vmconf</c> =
/// <c>{'vmId': ..., 'custom': {...}}</c> as vm.py does. Hermetic as <see cref="VdsmHookRunner"/>: the environment VDSM
/// passes on has none of the test process's property or LARGEGUEST variables, and LARGEGUEST_CONFIG names an
/// empty (or the test's) configuration.
/// </summary>
public sealed class RealVdsmHooks : IDisposable
{
    public const string OurHook = "50_largeguest";
    public const string OtherHook = "60_other";
    public const string Python = "/usr/bin/python3";

    public string Root { get; } = Directory.CreateTempSubdirectory("largeguest-realvdsm-").FullName;

    /// <summary>P_VDSM_HOOKS.</summary>
    public string HooksRoot => Path.Combine(Root, "libexec", "vdsm", "hooks");

    /// <summary>P_VDSM_RUN.</summary>
    public string RunRoot => Path.Combine(Root, "run", "vdsm");

    /// <summary>Added to VDSM's environment for every call before <see cref="RealHookOptions.Environment"/>.</summary>
    public IReadOnlyDictionary<string, string> DefaultEnvironment { get; init; } = SampleHost.Environment;

    private string Markers => Path.Combine(Root, "markers");
    private string EmptyConfig => Path.Combine(Root, "empty-config.json");

    /// <summary>The VDSM sources this fixture runs (<see cref="Support.ThirdParty"/>).</summary>
    public static string ThirdParty => Support.ThirdParty.Root;

    public static string VdsmLib => Path.Combine(ThirdParty, "vdsm", "lib");

    /// <summary>VDSM's hook runner, as hooks.py's <c>__file__</c> must say.</summary>
    public static string HooksPy => Path.Combine(VdsmLib, "vdsm", "common", "hooks.py");

    public static string Driver => Repo.PathOf(Path.Combine("tests", "Largeguest.Tests", "Vdsm",
        "vdsm_hooks_driver.py"));

    public RealVdsmHooks(string? binary = null)
    {
        if (!File.Exists(HooksPy))
            throw new InvalidOperationException(
                $"VDSM's hook runner is not at {HooksPy}: the real-runner tests need the VDSM sources in the " +
                    $"third-party folder (looked in {Support.ThirdParty.Where}; set {Support.ThirdParty.Variable})");
        if (!File.Exists(Python))
            throw new InvalidOperationException($"{Python} is missing: the real-runner tests run VDSM's hooks.py " +
                $"with the system Python 3");
        var product = Directory.CreateDirectory(Path.Combine(Root, "libexec", "vdsm-hook-largeguest")).FullName;
        File.CreateSymbolicLink(Path.Combine(product, "largeguest"), binary ?? PublishedBinary.Path);
        foreach (var point in VdsmHookRunner.HookPointNames)
        {
            var dir = Directory.CreateDirectory(Path.Combine(HooksRoot, point)).FullName;
            File.CreateSymbolicLink(Path.Combine(dir, OurHook), "../../../vdsm-hook-largeguest/largeguest");
            VdsmHookRunner.WriteScript(Path.Combine(dir, OtherHook),
                $"# another product's hook: records that it ran, its environment and the domain XML it found\n" +
                $"env -0 > '{Path.Combine(Markers, point)}.env'\ncp \"$_hook_domxml\" " +
                    $"'{Path.Combine(Markers, point)}.xml'");
        }
        Directory.CreateDirectory(RunRoot);
        Directory.CreateDirectory(Markers);
        File.WriteAllText(EmptyConfig, "{}\n");
    }

    /// <summary>
    /// Calls VDSM's hook function for <paramref name="hookPoint"/> (before_vm_start, before_vm_migrate_destination,
    /// before_vm_dehibernate, after_vm_destroy) with the domain XML and the VM's custom properties.
    /// </summary>
    public RealHookRun Run(string hookPoint, string domxml, IReadOnlyDictionary<string, string> custom,
        RealHookOptions? options = null)
    {
        options ??= new RealHookOptions();
        foreach (var f in Directory.GetFiles(Markers)) File.Delete(f);
        var id = Guid.NewGuid().ToString("N");
        var requestPath = Path.Combine(Root, $"request-{id}.json");
        var outPath = Path.Combine(Root, $"driver-{id}.out");
        var errPath = Path.Combine(Root, $"driver-{id}.err");
        var request = new JsonObject
        {
            ["vdsm_lib"] = VdsmLib,
            ["hooks_root"] = HooksRoot,
            ["run_root"] = RunRoot,
            ["hook_point"] = hookPoint,
            ["domxml"] = domxml,
            ["vmconf"] = new JsonObject { ["vmId"] = options.VmId, ["custom"] = Object(custom) },
            ["params"] = Object(options.Params ?? new Dictionary<string, string>()),
            ["final_callback"] = options.FinalCallback,
        };
        File.WriteAllText(requestPath, request.ToJsonString());

        var env = VdsmHookRunner.HermeticEnvironment(EmptyConfig);
        foreach (var (k, v) in DefaultEnvironment) env[k] = v;
        if (options.ConfigJson is not null)
        {
            var config = Path.Combine(Root, $"config-{id}.json");
            File.WriteAllText(config, options.ConfigJson);
            env["LARGEGUEST_CONFIG"] = config;
        }
        foreach (var (k, v) in options.Environment ?? new Dictionary<string, string?>())
            if (v is null) env.Remove(k); else env[k] = v;

        var clock = Stopwatch.StartNew();
        try
        {
            var exit = Native.Spawn(Python, [Python, "-I", Driver, requestPath], env, outPath,
                errPath).Wait(options.Timeout);
            var elapsed = clock.Elapsed;
            var stdout = File.ReadAllText(outPath);
            if (exit.ExitCode != 0 || exit.Signalled)
                throw new InvalidOperationException(
                    $"the VDSM hooks driver failed (exit {exit.ExitCode}, signal {exit.Signal}) for " +
                        $"{hookPoint}:\n{File.ReadAllText(errPath)}{stdout}");
            return Parse(hookPoint, JsonNode.Parse(stdout)!.AsObject(), elapsed);
        }
        finally
        {
            foreach (var f in new[] { requestPath, outPath, errPath }) File.Delete(f);
        }
    }

    private RealHookRun Parse(string hookPoint, JsonObject result, TimeSpan elapsed)
    {
        var scripts = result["scripts"]!.AsArray()
            .Select(s => new VdsmScriptRun((string)s!["script"]!, (int)s["rc"]!, (string)s["stderr"]!)).ToList();
        var marker = Path.Combine(Markers, hookPoint);
        OtherHookRun? other = null;
        if (File.Exists(marker + ".env"))
        {
            var environment = File.ReadAllText(marker + ".env").Split('\0', StringSplitOptions.RemoveEmptyEntries)
                .Select(e => e.Split('=', 2)).ToDictionary(kv => kv[0], kv => kv.Length > 1 ? kv[1] : "",
                    StringComparer.Ordinal);
            other = new OtherHookRun(environment, File.Exists(marker + ".xml") ? File.ReadAllText(marker + ".xml",
                Encoding.UTF8) : "");
        }
        return new RealHookRun(hookPoint, (string?)result["xml"], (string?)result["hook_error"]?["text"],
            (string?)result["callback_xml"],
            result["log"]!.AsArray()
                .Select(l => (string)l!).ToList(), scripts, other, (string)result["hooks_file"]!, elapsed);
    }

    private static JsonObject Object(IReadOnlyDictionary<string, string> values) =>
        new(values.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)JsonValue.Create(kv.Value))));

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
