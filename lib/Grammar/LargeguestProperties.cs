namespace Largeguest.Grammar;

/// <summary>
/// The VM custom properties this product reads, parsed. VDSM passes each as an environment variable
/// of the same name; the engine UI holds them as <c>name=value;name=value</c>.
/// </summary>
public sealed record LargeguestProperties(
    CpuTune? CpuTune = null,
    NumaTune? NumaTune = null,
    GuestNuma? GuestNuma = null,
    CpuSet? PinCpu = null,
    bool? KsmMergeAcrossNodes = null,
    bool NumaAuto = false)
{
    public const string Cputune = "cputune";
    public const string Numatune = "numatune";
    public const string Guestnuma = "guestnuma";
    public const string KsmMergeAcrossNodesName = "ksm_merge_across_nodes";
    public const string Pincpu = "pincpu";
    public const string Numa = "numa";

    private static readonly string[] NameArray = [Cputune, Numatune, Guestnuma, KsmMergeAcrossNodesName, Pincpu, Numa];

    public static readonly IReadOnlyList<string> Names = Array.AsReadOnly(NameArray);

    public const string KsmSyntax = "0 (never merge across NUMA nodes) or 1";

    /// <summary>The property that carried <see cref="NumaTune"/> (<c>numatune</c>, or the retired <c>numa</c>):
    /// messages name the one the administrator set.</summary>
    public string NumaTuneProperty { get; init; } = Numatune;

    /// <summary>Does the domain XML need editing (as opposed to KSM work only)?</summary>
    public bool EditsXml =>
        CpuTune is not null || NumaTune is not null || GuestNuma is not null || PinCpu is not null || NumaAuto;

    /// <summary>The properties of ours that are set; an empty value means "not set".</summary>
    public static IReadOnlyDictionary<string, string> Select(Func<string, string?> lookup)
    {
        var set = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in NameArray)
            if (lookup(name) is { } value && !string.IsNullOrWhiteSpace(value)) set[name] = value;
        return set;
    }

    /// <summary>Is any property of ours set? What <see cref="Select"/> tells, without building anything: the
    /// question of every hook run, most of which end on "no".</summary>
    public static bool AnySet(Func<string, string?> lookup)
    {
        foreach (var name in NameArray)
            if (!string.IsNullOrWhiteSpace(lookup(name))) return true;
        return false;
    }

    /// <summary>Parses every set property; the first bad one throws, naming itself.</summary>
    public static LargeguestProperties Parse(IReadOnlyDictionary<string, string> values, NumaMode defaultMode)
    {
        if (values.ContainsKey(Numatune) && values.ContainsKey(Numa))
            throw new PropertyException(Numa,
                "is set together with numatune; the retired numa hook's property would be ignored",
                "only one of numatune and numa");
        var auto = values.TryGetValue(Numatune, out var numatune) && NumaTune.IsAuto(numatune);
        var parsed = new LargeguestProperties(
            CpuTune: Get(values, Cputune, CpuTune.Parse),
            NumaTune: auto ? null
                : Get(values, Numatune, v => NumaTune.Parse(v, defaultMode)) ?? Get(values, Numa, NumaTune.ParseLegacy),
            GuestNuma: Get(values, Guestnuma, GuestNuma.Parse),
            PinCpu: Get(values, Pincpu, CpuSet.Parse),
            KsmMergeAcrossNodes: Get<bool?>(values, KsmMergeAcrossNodesName, ParseKsm),
            NumaAuto: auto)
        {
            NumaTuneProperty = values.ContainsKey(Numa) ? Numa : Numatune,
        };
        if (auto && parsed.PinCpu is not null)
            throw new PropertyException(Pincpu, "is set together with numatune=auto, which lets numad choose the CPUs",
                "either pincpu or numatune=auto");
        if (auto && parsed.GuestNuma?.FirstBound is { } bound)
            throw new PropertyException(Guestnuma,
                $"cell '{bound}' is bound to host nodes, which libvirt does not allow with numatune=auto",
                "cells without #NODES when numatune=auto");
        return parsed;
    }

    private static bool? ParseKsm(string value) => value.Trim() switch
    {
        "0" => false,
        "1" => true,
        var other => throw new SyntaxException($"bad value '{other}'", KsmSyntax),
    };

    private static T? Get<T>(IReadOnlyDictionary<string, string> values, string name, Func<string, T> parse)
    {
        if (!values.TryGetValue(name, out var value)) return default;
        try { return parse(value); }
        catch (SyntaxException e) { throw e.For(name); }
    }

    /// <summary>The engine's custom-property form: <c>name=value;name=value</c>.</summary>
    public static string EngineString(IEnumerable<(string Name, string Value)> properties) =>
        string.Join(";", properties.Select(p => $"{p.Name}={p.Value}"));

    /// <summary>The canonical property string, as <c>largeguest check</c> prints it.</summary>
    public IEnumerable<(string Name, string Value)> Canonical()
    {
        if (CpuTune is not null) yield return (Cputune, CpuTune.ToString());
        if (NumaTune is not null) yield return (Numatune, NumaTune.ToString());
        if (NumaAuto) yield return (Numatune, Grammar.NumaTune.Auto);
        if (GuestNuma is not null) yield return (Guestnuma, GuestNuma.ToString());
        if (PinCpu is not null) yield return (Pincpu, PinCpu.ToString());
        if (KsmMergeAcrossNodes is bool k) yield return (KsmMergeAcrossNodesName, k ? "1" : "0");
    }
}
