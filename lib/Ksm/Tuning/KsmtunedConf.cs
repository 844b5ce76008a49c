using System.Globalization;
using System.Text;
using Largeguest.Config;

namespace Largeguest.Ksm.Tuning;

/// <summary>
/// One key of /etc/ksmtuned.conf with ksmtuned's default (the RHEL KSM guide, docs/design.md section 6) and the values
/// it accepts.
/// </summary>
public sealed record KsmtunedKey(string Name, string Default, string Description, long Min = 0, long Max = 0,
    bool Numeric = true);

/// <summary>
/// /etc/ksmtuned.conf as ksmtuned reads it (it sources the file as shell): <c>KEY=value</c> lines, <c>#</c> comments,
/// optional <c>export</c>, single or double quotes. An empty value means the default, as ksmtuned's
/// <c>${KEY:-default}</c> does. Shell expansion (<c>$</c>, backquotes) is refused rather than guessed.
/// Values are kept as given; <see cref="Parse"/> has already checked them.
/// </summary>
public sealed class KsmtunedConf
{
    public const string DefaultPath = "/etc/ksmtuned.conf";

    public const string MonitorInterval = "KSM_MONITOR_INTERVAL";
    public const string SleepMsec = "KSM_SLEEP_MSEC";
    public const string NpagesBoost = "KSM_NPAGES_BOOST";
    public const string NpagesDecay = "KSM_NPAGES_DECAY";
    public const string NpagesMin = "KSM_NPAGES_MIN";
    public const string NpagesMax = "KSM_NPAGES_MAX";
    public const string ThresCoef = "KSM_THRES_COEF";
    public const string ThresConst = "KSM_THRES_CONST";
    public const string LogFile = "LOGFILE";
    public const string Debug = "DEBUG";

    /// <summary>Every key of the default file of the RHEL KSM guide, with its default.</summary>
    public static readonly IReadOnlyList<KsmtunedKey> Keys =
    [
        new(MonitorInterval, "60", "seconds between tuning adjustments", 1, 86_400),
        new(SleepMsec, "10",
            "ms ksmd sleeps between scans on a 16 GiB host (smaller hosts sleep more)", 0, TuningParameters.SleepLimit),
        new(NpagesBoost, "300",
            "added to pages_to_scan when free memory is below the threshold", 0, TuningParameters.PagesLimit),
        new(NpagesDecay, "-50",
            "added to pages_to_scan (so zero or negative) when free memory is above the threshold",
            -TuningParameters.PagesLimit, 0),
        new(NpagesMin, "64", "lower limit of pages_to_scan", 1, TuningParameters.PagesLimit),
        new(NpagesMax, "1250", "upper limit of pages_to_scan", 1, TuningParameters.PagesLimit),
        new(ThresCoef, "20", "percent of RAM below which free memory starts ksmd", 0, 100),
        new(ThresConst, "2048", "lowest threshold in KiB, for small hosts", 0, long.MaxValue / 2),
        new(LogFile, "/var/log/ksmtuned",
            "ksmtuned's debug log; this service logs to the journal instead", Numeric: false),
        new(Debug, "", "non-empty (other than 0) logs every cycle", Numeric: false),
    ];

    private readonly Dictionary<string, string> _values;

    private KsmtunedConf(string source, Dictionary<string, string> values)
    {
        Source = source;
        _values = values;
    }

    /// <summary>The file it came from ("defaults" when there was none).</summary>
    public string Source { get; }

    public static KsmtunedConf Defaults { get; } =
        new("defaults", new Dictionary<string, string>(StringComparer.Ordinal));

    /// <summary>True when the file set <paramref name="key"/> to a non-empty value.</summary>
    public bool IsSet(string key) => _values.ContainsKey(key);

    /// <summary>The keys the file set, in <see cref="Keys"/> order.</summary>
    public IEnumerable<string> SetKeys => Keys.Where(k => _values.ContainsKey(k.Name)).Select(k => k.Name);

    public string Text(string key) => _values.TryGetValue(key, out var v) ? v : Keys.First(k => k.Name == key).Default;

    public long Number(string key) =>
        long.Parse(Text(key), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);

    public TimeSpan Interval => TimeSpan.FromSeconds(Number(MonitorInterval));
    public int Coefficient => (int)Number(ThresCoef);
    internal long ThresholdConstKiB => Number(ThresConst);
    public bool DebugEnabled => Text(Debug) is { Length: > 0 } d && d != "0";

    /// <summary>
    /// The customized parameter set this file describes (decay turned from ksmtuned's negative delta into an amount).
    /// </summary>
    public TuningParameters Parameters =>
        new(Number(NpagesBoost), -Number(NpagesDecay), Number(NpagesMin), Number(NpagesMax), Number(SleepMsec));

    /// <summary>
    /// Reads <paramref name="path"/>; a missing file is the defaults. Unknown keys go to <paramref name="warn"/>.
    /// </summary>
    public static KsmtunedConf Load(string path, Action<string> warn)
    {
        if (!File.Exists(path)) return Defaults;
        string text;
        try { text = File.ReadAllText(path, Encoding.UTF8); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new ConfigException($"{path}: cannot read: {e.Message}"); }
        return Parse(text, path, warn);
    }

    public static KsmtunedConf Parse(string text, string source, Action<string> warn)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var lineNo = 0;
        foreach (var rawLine in text.Split('\n'))
        {
            lineNo++;
            var where = $"{source}:{lineNo}";
            var line = rawLine.TrimEnd('\r').Trim();
            if (line.Length == 0 || line[0] == '#') continue;
            if (line.StartsWith("export ", StringComparison.Ordinal)) line = line["export ".Length..].TrimStart();
            var eq = line.IndexOf('=');
            var name = eq > 0 ? line[..eq] : "";
            if (eq <= 0 || !IsShellName(name))
                throw new ConfigException($"{where}: '{Shorten(line)}' is not a KEY=value assignment " +
                    "(expected: KEY=value, as ksmtuned sources the file as shell)");
            var value = Unquote(line[(eq + 1)..], where, name);
            var key = Keys.FirstOrDefault(k => k.Name == name);
            if (key is null) { warn($"{where}: {name}: not a ksmtuned key, ignored"); continue; }
            if (value.Length == 0) { values.Remove(name); continue; } // ${KEY:-default}: empty means default
            if (key.Numeric)
            {
                if (!long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n)
                    || n < key.Min || n > key.Max)
                    throw new ConfigException($"{where}: {name}: bad value '{value}' (expected: {Expected(key)})");
                value = n.ToString(CultureInfo.InvariantCulture);
            }
            values[name] = value;
        }
        var conf = new KsmtunedConf(source, values);
        var p = conf.Parameters;
        if (p.MinPages > p.MaxPages)
            throw new ConfigException($"{source}: {NpagesMin}: {p.MinPages} is above {NpagesMax} {p.MaxPages} " +
                $"(expected: {NpagesMin} <= {NpagesMax})");
        return conf;
    }

    private static string Expected(KsmtunedKey key) => key.Name switch
    {
        NpagesDecay => $"zero or a negative whole number down to {key.Min}: ksmtuned adds it to pages_to_scan",
        ThresCoef => "a percentage from 0 to 100",
        _ => $"a whole number from {key.Min} to {key.Max}",
    };

    private static bool IsShellName(string name) =>
        name.Length > 0 && (char.IsAsciiLetter(name[0]) || name[0] == '_')
            && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');

    /// <summary>The value of a shell word: quotes removed, a trailing comment dropped; expansions refused.</summary>
    private static string Unquote(string rest, string where, string name)
    {
        var sb = new StringBuilder();
        var i = 0;
        while (i < rest.Length)
        {
            var c = rest[i];
            if (c is ' ' or '\t')
            {
                var tail = rest[i..].TrimStart();
                if (tail.Length == 0 || tail[0] == '#') break;
                throw new ConfigException(
                    $"{where}: {name}: unquoted space in '{Shorten(rest)}' (expected: one word, or quote the value)");
            }
            if (c == '\'')
            {
                var end = rest.IndexOf('\'', i + 1);
                if (end < 0)
                    throw new ConfigException($"{where}: {name}: unterminated ' quote (expected: a closing ')");
                sb.Append(rest, i + 1, end - i - 1);
                i = end + 1;
                continue;
            }
            if (c == '"')
            {
                var end = rest.IndexOf('"', i + 1);
                if (end < 0)
                    throw new ConfigException($"{where}: {name}: unterminated \" quote (expected: a closing \")");
                var inner = rest[(i + 1)..end];
                if (inner.IndexOfAny(['$', '`', '\\']) >= 0)
                    throw new ConfigException($"{where}: {name}: shell expansion in '{Shorten(rest)}' " +
                        "is not supported (expected: a literal value)");
                sb.Append(inner);
                i = end + 1;
                continue;
            }
            if (c is '$' or '`' or '\\' or ';' or '|' or '&' or '(' or ')' or '<' or '>')
                throw new ConfigException($"{where}: {name}: shell syntax '{c}' in '{Shorten(rest)}' " +
                    "is not supported (expected: a literal value)");
            sb.Append(c);
            i++;
        }
        return sb.ToString();
    }

    private static string Shorten(string s) => s.Length <= 60 ? s : s[..57] + "...";
}
