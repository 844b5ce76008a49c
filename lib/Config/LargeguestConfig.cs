using Largeguest.Grammar;
using Largeguest.IO;

namespace Largeguest.Config;

public enum StrictMemoryPolicy { Warn, Prefer, Fail }
public enum PreferredManyPolicy { Fail, Interleave }
public enum FailurePolicy { Warn, Fail }
public enum TopologySource { Auto, Libvirt, Sysfs }

/// <summary>
/// How each choice key's values are spelled in the config, in the enum's order (<see cref="Spellings"/>; a unit test
/// holds the two together).
/// </summary>
internal static class ChoiceSpellings
{
    public static readonly string[] StrictMemory = ["warn", "prefer", "fail"];
    public static readonly string[] PreferredMany = ["fail", "interleave"];
    public static readonly string[] Failure = ["warn", "fail"];
    public static readonly string[] Topology = ["auto", "libvirt", "sysfs"];
}

/// <summary>
/// Validated settings. Loaded from <see cref="DefaultPath"/> plus <c>LARGEGUEST__Section__Key</c>
/// environment overrides; in privileged mode only the fixed file counts.
/// </summary>
public sealed record LargeguestConfig(
    TopologySource TopologySource,
    string LibvirtUri,
    string SysfsRoot,
    NumaMode DefaultMode,
    StrictMemoryPolicy StrictMemory,
    string KsmStateDir,
    int KsmMemoryReservePercent,
    FailurePolicy KsmOnFailure,
    TimeSpan KsmUnmergeTimeout,
    TimeSpan KsmLockTimeout,
    TimeSpan KsmStaleGrace,
    bool? KsmDefaultMergeAcrossNodes)
{
    /// <summary>The numad executable libvirt runs for automatic placement (<c>Topology:NumadPath</c>).</summary>
    public string NumadPath { get; init; } = "/usr/bin/numad";

    /// <summary>MoM's configuration file (<c>Mom:ConfigPath</c>); no such file: no MoM (docs/ksm.md, "MoM").</summary>
    public string MomConfigPath { get; init; } = "/etc/vdsm/mom.conf";

    public const string DefaultPath = "/etc/vdsm-hook-largeguest/largeguest.json";

    /// <summary>Points the product at another config file (tests, `apply` on a workstation). Ignored when
    /// privileged.</summary>
    public const string PathVariable = "LARGEGUEST_CONFIG";

    public const string EnvironmentPrefix = "LARGEGUEST__";

    public static LargeguestConfig Defaults { get; } = FromOptions(new LargeguestOptions());

    /// <summary>
    /// The tuning service's section, as written: validated by Largeguest.Ksm.Tuning.TuneConfig when the tuner runs,
    /// so that a bad tuner value never stops a VM from starting.
    /// </summary>
    public KsmTuneOptions KsmTune { get; init; } = new();

    /// <summary><c>CpuTune:SharedPolicy</c>: what to do with pins VDSM's CPU management would undo
    /// (lib/Domain/VdsmCpuPolicy.cs).</summary>
    public FailurePolicy CpuTuneSharedPolicy { get; init; } = FailurePolicy.Fail;

    /// <summary><c>GuestNuma:TopologyMismatch</c>: guest cells that split a guest socket or core
    /// (DomainChecks.CheckGuestTopology).</summary>
    public FailurePolicy GuestNumaTopologyMismatch { get; init; } = FailurePolicy.Warn;

    /// <summary><c>NumaTune:PreferredManyNodes</c>: a multi-node preferred binding the host cannot start
    /// (lib/Host/PreferredMany.cs).</summary>
    public PreferredManyPolicy PreferredManyNodes { get; init; } = PreferredManyPolicy.Fail;

    /// <summary><c>Ksm:UnmergeSecondsPerGiB</c>: the unmerge budget per GiB of work
    /// (KsmPolicy.UnmergeTimeLimitFor).</summary>
    public TimeSpan KsmUnmergePerGiB { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary><c>Ksm:MaxRequests</c>: the most request files the KSM registry holds
    /// (lib/Ksm/KsmRequests.cs).</summary>
    public int KsmMaxRequests { get; init; } = 4096;

    /// <summary>The main file <see cref="Load"/> reads (for messages that name a key and its file).</summary>
    public static string PathFor(IReadOnlyDictionary<string, string> environment, bool privileged) =>
        !privileged && environment.TryGetValue(PathVariable, out var p) && p.Length > 0 ? p : DefaultPath;

    /// <summary>
    /// The drop-in directory beside a main file: <c>NAME.json</c> -> <c>NAME.d</c>, so the installed file has
    /// <c>largeguest.d</c> and a file named by <see cref="PathVariable"/> brings its own (never the host's).
    /// </summary>
    public static string DropInDirectoryFor(string mainPath) => Path.ChangeExtension(mainPath, ".d");

    /// <summary>Where the values come from, for messages about keys validated later (the tuner's section).</summary>
    public static string Describe(IReadOnlyDictionary<string, string> environment, bool privileged)
    {
        var path = PathFor(environment, privileged);
        return DropIns(DropInDirectoryFor(path)).Count == 0 ? path : $"{path} or {DropInDirectoryFor(path)}/*.json";
    }

    /// <summary>A config file larger than this is refused (the shipped one, every key commented, is 6 KiB).</summary>
    private const long MaxFileBytes = 1 << 20;

    /// <summary>Loads and validates; unknown keys are reported through <paramref name="warn"/>.</summary>
    public static LargeguestConfig Load(IReadOnlyDictionary<string, string> environment, bool privileged,
        Action<string> warn)
    {
        var path = PathFor(environment, privileged);
        // Each file's keys, later files winning key by key; origin says which file set a key, so that a bad value
        // names the drop-in it came from.
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var origin = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (File.Exists(path))
            Merge(path);
        else if (path != DefaultPath)
            throw new ConfigException($"{path}: " +
                $"{(Directory.Exists(path) ? "a directory, not a file" : "no such file")} (named by {PathVariable})");
        var dropIns = DropInDirectoryFor(path);
        foreach (var name in DropIns(dropIns)) Merge(Path.Combine(dropIns, name));

        var overrides = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        if (!privileged)
        {
            // Spelled exactly (prefix, section and key as in docs/configuration.md): VDSM puts every VM custom
            // property into the hook's environment, and configuration keys are case-insensitive, so a loose match
            // would let a differently cased property change the host's configuration.
            // A differently cased one is ignored whatever it names: it may not act, nor (by its shape) fail the run.
            foreach (var (variable, value) in environment)
            {
                if (!variable.StartsWith(EnvironmentPrefix, StringComparison.OrdinalIgnoreCase)) continue;
                var key = variable[EnvironmentPrefix.Length..].Replace("__", ":", StringComparison.Ordinal);
                var spelling = KnownSpelling(key);
                if (!variable.StartsWith(EnvironmentPrefix, StringComparison.Ordinal)
                    || (spelling is not null && spelling != key))
                {
                    warn($"config: {variable} ignored: overrides are spelled exactly, " + (spelling is null
                        ? $"beginning {EnvironmentPrefix}"
                        : EnvironmentPrefix + spelling.Replace(":", "__", StringComparison.Ordinal)));
                    continue;
                }
                values[key] = value;
                overrides.Add(key);
            }
        }

        var options = new LargeguestOptions();
        foreach (var (key, value) in values)
        {
            try
            {
                if (options.TrySet(key, value)) continue;
            }
            catch (FormatException e) { throw Bad(Source, key, value, e.Message); }
            // A known key given an array or object ("Ksm:UnmergeTimeoutSeconds:0"), or a known section given
            // a plain value ("NumaTune": "strict"), is a value of the wrong shape, not a key of the future.
            if (ConfigKeys.All.FirstOrDefault(k => key.StartsWith(k.Name + ":", StringComparison.OrdinalIgnoreCase))
                is { } known)
                throw new ConfigException($"{Source(key)}: {known.Name}: expected a single value, found an array or " +
                    "object");
            if (ConfigKeys.All.Any(k => k.Name.StartsWith(key + ":", StringComparison.OrdinalIgnoreCase)))
                throw new ConfigException(
                    $"{Source(key)}: {key}: expected a section of keys, found the value '{value}'");
            warn($"config: unknown key '{key}' ignored (from {Source(key)})");
        }
        return Validate(options, Source);

        // Where a key's value came from: the variable that overrode it, else the file that set it last.
        string Source(string key) => overrides.Contains(key)
            ? $"{EnvironmentPrefix}{key.Replace(":", "__", StringComparison.Ordinal)} (environment)"
            : origin.GetValueOrDefault(key, path);

        void Merge(string file)
        {
            byte[] bytes;
            try { bytes = RegularFile.Read(file, MaxFileBytes, size => $"{size} bytes, more than {MaxFileBytes}"); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            { throw new ConfigException($"{file}: cannot read: {e.Message}"); }
            Dictionary<string, string?> read;
            try { read = JsonConfigFile.Read(bytes); }
            catch (System.Text.Json.JsonException e) // its position says where to look; its text names parser states
            { throw new ConfigException($"{file}: malformed JSON at line {e.LineNumber + 1}, byte " +
                $"{e.BytePositionInLine + 1}"); }
            catch (FormatException e) { throw new ConfigException($"{file}: malformed JSON: {e.Message}"); }
            foreach (var (key, value) in read)
            {
                if (value is null) continue; // null, {} or []: nothing set (an earlier file's value stays)
                values[key] = value;
                origin[key] = file;
            }
        }
    }

    /// <summary>
    /// The drop-in files of <paramref name="directory"/> in the order they apply: names ending in <c>.json</c>, not
    /// hidden (an editor's <c>.#x.json</c>), sorted by ordinal name; <c>x.json.rpmsave</c> and the like are ignored.
    /// A missing directory has none (one failed <c>opendir</c>); one that cannot be listed is an error.
    /// </summary>
    private static List<string> DropIns(string directory)
    {
        List<string> names;
        try { names = DirectoryNames.Read(directory); }
        catch (IOException e)
        { throw new ConfigException($"{directory}: cannot list the drop-in directory: {e.Message}"); }
        names.RemoveAll(n => !n.EndsWith(".json", StringComparison.Ordinal) || n.StartsWith('.'));
        names.Sort(StringComparer.Ordinal);
        return names;
    }

    /// <summary>
    /// <paramref name="key"/> as docs/configuration.md spells it, when it names (ignoring case) a known key, a key's
    /// section, or something below a known key; else null (a key of the future).
    /// </summary>
    private static string? KnownSpelling(string key)
    {
        foreach (var k in ConfigKeys.All)
        {
            if (k.Name.Equals(key, StringComparison.OrdinalIgnoreCase)) return k.Name;
            if (key.StartsWith(k.Name + ":", StringComparison.OrdinalIgnoreCase)) return k.Name + key[k.Name.Length..];
            var section = k.Name[..k.Name.IndexOf(':')];
            if (section.Equals(key, StringComparison.OrdinalIgnoreCase)) return section;
        }
        return null;
    }

    public static LargeguestConfig FromOptions(LargeguestOptions o, string source = "defaults")
        => Validate(o, _ => source);

    /// <param name="source">Where a key's value came from (the file, or the environment variable that overrode it),
    /// for messages.</param>
    private static LargeguestConfig Validate(LargeguestOptions o, Func<string, string> source) => new(
        Choice<TopologySource>("Topology:Source", o.Topology.Source, ChoiceSpellings.Topology, source),
        NonEmpty("Topology:LibvirtUri", o.Topology.LibvirtUri, source),
        NonEmpty("Topology:SysfsRoot", o.Topology.SysfsRoot, source),
        NumaModes.TryParse(o.NumaTune.DefaultMode, out var mode) ? mode
            : throw Bad(source, "NumaTune:DefaultMode", o.NumaTune.DefaultMode, NumaModes.Syntax),
        Choice<StrictMemoryPolicy>("NumaTune:StrictMemory", o.NumaTune.StrictMemory, ChoiceSpellings.StrictMemory,
            source),
        NonEmpty("Ksm:StateDir", o.Ksm.StateDir, source),
        Range("Ksm:MemoryReservePercent", o.Ksm.MemoryReservePercent, 0, 90, source),
        Choice<FailurePolicy>("Ksm:OnFailure", o.Ksm.OnFailure, ChoiceSpellings.Failure, source),
        TimeSpan.FromSeconds(Range("Ksm:UnmergeTimeoutSeconds", o.Ksm.UnmergeTimeoutSeconds, 1, 86400, source)),
        TimeSpan.FromSeconds(Range("Ksm:LockTimeoutSeconds", o.Ksm.LockTimeoutSeconds, 0, 3600, source)),
        TimeSpan.FromSeconds(Range("Ksm:StaleGraceSeconds", o.Ksm.StaleGraceSeconds, 0, 86400, source)),
        o.Ksm.DefaultMergeAcrossNodes.Trim() switch
        {
            "" => null,
            "0" => false,
            "1" => true,
            var v => throw Bad(source, "Ksm:DefaultMergeAcrossNodes", v, "0, 1 or empty"),
        })
    {
        NumadPath = NonEmpty("Topology:NumadPath", o.Topology.NumadPath, source),
        KsmTune = o.KsmTune,
        CpuTuneSharedPolicy =
            Choice<FailurePolicy>("CpuTune:SharedPolicy", o.CpuTune.SharedPolicy, ChoiceSpellings.Failure, source),
        GuestNumaTopologyMismatch =
            Choice<FailurePolicy>("GuestNuma:TopologyMismatch", o.GuestNuma.TopologyMismatch, ChoiceSpellings.Failure,
                source),
        PreferredManyNodes =
            Choice<PreferredManyPolicy>("NumaTune:PreferredManyNodes", o.NumaTune.PreferredManyNodes,
                ChoiceSpellings.PreferredMany, source),
        KsmUnmergePerGiB =
            TimeSpan.FromSeconds(Range("Ksm:UnmergeSecondsPerGiB", o.Ksm.UnmergeSecondsPerGiB, 1, 600, source)),
        KsmMaxRequests = Range("Ksm:MaxRequests", o.Ksm.MaxRequests, 1, 1_000_000, source),
        MomConfigPath = AbsolutePath("Mom:ConfigPath", o.Mom.ConfigPath, source),
    };

    /// <summary>The value named by <paramref name="value"/>, its index in <paramref name="spellings"/> being the enum
    /// value.</summary>
    private static T Choice<T>(string key, string value, string[] spellings, Func<string, string> source)
        where T : struct, Enum
    {
        var index = Spellings.IndexOf(spellings, value);
        return index >= 0
            ? System.Runtime.CompilerServices.Unsafe.As<int, T>(ref index)
            : throw Bad(source, key, value, string.Join(", ", spellings));
    }

    private static int Range(string key, int value, int min, int max, Func<string, string> source) =>
        value >= min && value <= max ? value : throw Bad(source, key, value.ToString(), $"a whole number from {min} " +
            $"to {max}");

    private static string NonEmpty(string key, string value, Func<string, string> source) =>
        string.IsNullOrWhiteSpace(value) ? throw Bad(source, key, value, "a non-empty value") : value.Trim();

    private static string AbsolutePath(string key, string value, Func<string, string> source) =>
        Path.IsPathRooted(value.Trim()) ? value.Trim() : throw Bad(source, key, value, "an absolute path");

    private static ConfigException Bad(Func<string, string> source, string key, string value, string expected) =>
        new($"{source(key)}: {key}: bad value '{value}' (expected: {expected})");
}
