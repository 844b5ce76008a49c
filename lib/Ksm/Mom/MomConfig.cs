using System.Globalization;

namespace Largeguest.Ksm.Mom;

/// <summary>Where MoM's XML-RPC server listens, from its <c>rpc-port</c>: a unix socket path, a TCP port on localhost,
/// or off.</summary>
public sealed record MomEndpoint(string? SocketPath, int? TcpPort)
{
    public bool Disabled => SocketPath is null && TcpPort is null;

    public override string ToString() =>
        SocketPath ?? (TcpPort is int p ? $"localhost:{p}" : "no RPC (rpc-port is negative)");

    /// <summary>MoM's own rule: an integer is a TCP port (negative: RPC off), anything else a unix socket
    /// path.</summary>
    public static MomEndpoint Parse(string rpcPort) =>
        int.TryParse(rpcPort.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var port)
            ? new MomEndpoint(null, port < 0 ? null : port)
            : new MomEndpoint(rpcPort.Trim(), null);
}

/// <summary>
/// The parts of MoM's configuration (<c>/etc/vdsm/mom.conf</c> on oVirt hosts, <c>Mom:ConfigPath</c>) that decide how
/// we cooperate with it (docs/ksm.md, "MoM"): <c>[main] controllers</c>, <c>rpc-port</c>, <c>policy-dir</c>. Keys MoM
/// defaults when they are missing get MoM's defaults (<c>controllers: Balloon</c>, <c>rpc-port: -1</c>, no policy-dir).
/// </summary>
public sealed record MomConfig(string Path, string Controllers, MomEndpoint Endpoint, string PolicyDir)
{
    public const string KsmController = "KSM";

    /// <summary>The name of our named policy: after VDSM's <c>01-parameters</c>, before <c>03-ksm</c>.</summary>
    public const string PolicyName = "02-largeguest";

    /// <summary>MoM runs its KSM controller: <c>KSM</c> is one of the comma-separated <c>controllers</c> (as MoM splits
    /// them).</summary>
    public bool ManagesKsm => Controllers.Split(',').Any(c => c.TrimStart() == KsmController);

    /// <summary>Our policy file in MoM's policy-dir (MoM loads every <c>*.policy</c> there at start, by file stem), or
    /// null without a policy-dir.</summary>
    public string? PolicyFile =>
        PolicyDir.Length == 0 ? null : System.IO.Path.Combine(PolicyDir, PolicyName + ".policy");

    /// <summary>
    /// Why the KSM tuning service must not start (docs/ksmtune.md, "MoM"), or null: MoM's KSM controller is configured,
    /// whether or not MoM runs right now (VDSM starts mom-vdsm with itself). Two tuners writing run and pages_to_scan
    /// fight.
    /// </summary>
    public static string? TunerConflict(string configPath)
    {
        if (Load(configPath) is not { ManagesKsm: true } mom) return null;
        var others = string.Join(", ", mom.Controllers.Split(',')
            .Select(c => c.Trim())
            .Where(c => c.Length > 0 && c != KsmController));
        return $"MoM's KSM controller is configured in {mom.Path} (controllers: {mom.Controllers}): " +
            $"MoM tunes KSM (run, pages_to_scan, sleep_millisecs) itself and two tuners fight. " +
            $"Leave KSM tuning to MoM, or take KSM out of MoM's controllers " +
            $"('controllers: {others}' in {mom.Path}, then 'systemctl restart mom-vdsm') " +
            $"and start this service again (docs/ksmtune.md)";
    }

    /// <summary>Null when there is no such file (no MoM on this host): one stat on the common path.</summary>
    public static MomConfig? Load(string path)
    {
        if (!File.Exists(path)) return null;
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new MomException($"{path}: cannot read MoM's configuration: {e.Message}"); }
        return Parse(path, text);
    }

    /// <summary>Parses MoM's INI file the way Python's configparser reads it (enough for the keys we use); bad lines
    /// are errors naming the line.</summary>
    public static MomConfig Parse(string path, string text)
    {
        var sections = Ini(path, text);
        string Get(string key, string fallback) =>
            sections.TryGetValue("main", out var main) && main.TryGetValue(key, out var v) ? v
            : sections.TryGetValue("DEFAULT", out var d) && d.TryGetValue(key, out var dv) ? dv
            : fallback;
        return new MomConfig(
            path, Get("controllers", "Balloon"), MomEndpoint.Parse(Get("rpc-port", "-1")), Get("policy-dir", ""));
    }

    private static Dictionary<string, Dictionary<string, string>> Ini(string path, string text)
    {
        var sections = new Dictionary<string, Dictionary<string, string>>(StringComparer.Ordinal);
        Dictionary<string, string>? section = null;
        string? lastKey = null;
        var number = 0;
        foreach (var raw in text.Split('\n'))
        {
            number++;
            var line = raw.TrimEnd('\r');
            var trimmed = line.Trim();
            if (trimmed.Length == 0 || trimmed[0] is '#' or ';') continue;
            if (char.IsWhiteSpace(line[0]) && section is not null && lastKey is not null)
            {
                section[lastKey] = (section[lastKey] + "\n" + trimmed).Trim(); // a continuation line
                continue;
            }
            string Where() => $"{path}: line {number}";
            if (trimmed[0] == '[')
            {
                if (trimmed[^1] != ']')
                    throw new MomException($"{Where()}: bad section header '{trimmed}' (expected: [name])");
                var name = trimmed[1..^1];
                if (sections.ContainsKey(name))
                    throw new MomException($"{Where()}: section '[{name}]' appears twice (MoM refuses that file)");
                sections[name] = section = new Dictionary<string, string>(StringComparer.Ordinal);
                lastKey = null;
                continue;
            }
            var at = line.IndexOfAny([':', '=']);
            if (at <= 0 || line[..at].Trim().Length == 0)
                throw new MomException(
                    $"{Where()}: '{trimmed}' is not 'key: value' or 'key = value' (MoM refuses that file)");
            if (section is null)
                throw new MomException(
                    $"{Where()}: '{trimmed}' comes before any [section] header (MoM refuses that file)");
            var key = line[..at].Trim().ToLowerInvariant();
            if (section.ContainsKey(key))
                throw new MomException($"{Where()}: key '{key}' appears twice in its section (MoM refuses that file)");
            section[key] = line[(at + 1)..].Trim();
            lastKey = key;
        }
        return sections;
    }
}

/// <summary>Working with MoM failed (its configuration, socket or policy file); the message names the file or
/// socket.</summary>
public sealed class MomException(string message) : KsmException(message);
