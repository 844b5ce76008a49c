using Largeguest.IO;
using System.Globalization;
using System.Text.Json;

namespace Largeguest.Ksm.Mom;

/// <summary>
/// MoM as <c>largeguest ksm status</c> shows it: its configuration, whether its socket answers, whether our policy is
/// loaded (and its text), and MoM's own view of the host's KSM (<c>getStatistics</c>). Read-only.
/// </summary>
public sealed record MomStatus(
    string ConfigPath,
    MomConfig? Config,
    string? ConfigError,
    bool? Answers,
    string? RpcError,
    string? PolicyFileText,
    string? LoadedPolicy,
    IReadOnlyDictionary<string, object?> HostStatistics)
{
    /// <summary>The host statistics shown: MoM's KSM view (ksm_*) and the memory it judges pressure by.</summary>
    public IEnumerable<KeyValuePair<string, object?>> Shown => HostStatistics
        .Where(kv => kv.Key.StartsWith("ksm", StringComparison.Ordinal) || kv.Key is "mem_available" or "mem_free")
        .OrderBy(kv => kv.Key, StringComparer.Ordinal);

    public static MomStatus Read(string configPath, TimeSpan? timeout = null)
    {
        MomConfig? mom;
        try { mom = MomConfig.Load(configPath); }
        catch (MomException e)
        {
            return new MomStatus(
                configPath, null, e.Message, null, null, null, null, new Dictionary<string, object?>());
        }
        if (mom is null)
            return new MomStatus(configPath, null, null, null, null, null, null, new Dictionary<string, object?>());
        var file = mom.PolicyFile is { } f ? SmallFile.TryRead(f) : null;
        var client = new MomClient(mom.Endpoint, timeout);
        try
        {
            var answers = client.Ping();
            var policies = client.GetNamedPolicies();
            var stats = client.GetHostStatistics();
            return new MomStatus(
                configPath, mom, null, answers, null, file, policies.GetValueOrDefault(MomConfig.PolicyName), stats);
        }
        catch (MomException e)
        {
            return new MomStatus(
                configPath, mom, null, false, e.Message, file, null, new Dictionary<string, object?>());
        }
    }

    private static string Show(object? value) => value switch
    {
        null => "nil",
        bool b => b ? "true" : "false",
        IFormattable n => n.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    private static string OneLine(string policy) =>
        string.Join(" ", policy.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && l[0] != '#'));

    public IEnumerable<string> Lines()
    {
        if (ConfigError is not null) { yield return $"MoM: {ConfigError}"; yield break; }
        if (Config is not { } mom) { yield return $"MoM: not on this host ({ConfigPath} does not exist)"; yield break; }
        yield return $"MoM: {ConfigPath}: controllers {Config.Controllers} " +
            $"(KSM controller {(mom.ManagesKsm ? "on" : "off: MoM leaves KSM alone")})";
        yield return $"  socket {mom.Endpoint}: {(Answers is true ? "answers" : $"does not answer ({RpcError})")}";
        yield return $"  policy file {mom.PolicyFile ?? "(no policy-dir)"}: " +
            $"{(PolicyFileText is { } t ? OneLine(t) : "none")}";
        if (Answers is true)
        {
            yield return $"  policy {MomConfig.PolicyName} loaded in MoM: " +
                $"{(LoadedPolicy is { } p ? OneLine(p) : "no")}";
            yield return "  MoM's host view: " + string.Join(", ", Shown.Select(kv => $"{kv.Key}={Show(kv.Value)}"));
        }
    }

    public void WriteJson(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteString("config", ConfigPath);
        w.WriteBoolean("present", Config is not null);
        if (ConfigError is not null) w.WriteString("error", ConfigError);
        if (Config is { } mom)
        {
            w.WriteString("controllers", mom.Controllers);
            w.WriteBoolean("ksm_controller", mom.ManagesKsm);
            w.WriteString("socket", mom.Endpoint.ToString());
            w.WriteBoolean("answers", Answers is true);
            if (RpcError is not null) w.WriteString("rpc_error", RpcError);
            if (mom.PolicyFile is { } f) w.WriteString("policy_file", f); else w.WriteNull("policy_file");
            if (PolicyFileText is { } t) w.WriteString("policy_file_text", t); else w.WriteNull("policy_file_text");
            w.WriteBoolean("policy_loaded", LoadedPolicy is not null);
            if (LoadedPolicy is { } p) w.WriteString("policy_text", p); else w.WriteNull("policy_text");
            w.WriteStartObject("host_statistics");
            foreach (var (key, value) in Shown)
                switch (value)
                {
                    case int i: w.WriteNumber(key, i); break;
                    case long l: w.WriteNumber(key, l); break;
                    case double d: w.WriteNumber(key, d); break;
                    case bool b: w.WriteBoolean(key, b); break;
                    case null: w.WriteNull(key); break;
                    default: w.WriteString(key, Show(value)); break;
                }
            w.WriteEndObject();
        }
        w.WriteEndObject();
    }
}
