using System.Diagnostics;
using Largeguest.Tests.Support;

namespace Largeguest.Tests.Host;

/// <summary>
/// The published binary for the topology tests: hook runs through <see cref="VdsmHookRunner"/> (VDSM's protocol)
/// and admin commands, both with an empty configuration file so that a machine's
/// /etc/vdsm-hook-largeguest/largeguest.json cannot leak in, and a scratch directory for fixtures.
/// </summary>
public sealed class HostBinary : IDisposable
{
    private readonly VdsmHookRunner _hooks = new();

    public string Dir { get; } = Directory.CreateTempSubdirectory("lg-host-").FullName;
    private string Config => Path.Combine(Dir, "largeguest.json");

    public HostBinary() => File.WriteAllText(Config, "{}\n");

    public sealed record Result(int Exit, string Stdout, string Stderr)
    {
        public string[] StderrLines => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    /// <summary>Runs the hook point on <paramref name="xml"/> with <paramref name="env"/> (properties and LARGEGUEST__
    /// overrides).</summary>
    public (Result Result, string XmlAfter, bool Unchanged) Hook(string xml, IReadOnlyDictionary<string, string> env,
        string hookPoint = "before_vm_start")
    {
        var before = System.Text.Encoding.UTF8.GetBytes(xml);
        var run = _hooks.Run(hookPoint, before, env, environment: new Dictionary<string,
            string> { ["LARGEGUEST_CONFIG"] = Config });
        return (new Result(run.ExitCodes[^1], "", run.Stderr), run.XmlText, run.Xml.AsSpan().SequenceEqual(before));
    }

    public Result Cli(IReadOnlyDictionary<string, string> env, params string[] args)
    {
        var psi = new ProcessStartInfo(PublishedBinary.Path, args) { RedirectStandardOutput = true,
            RedirectStandardError = true, UseShellExecute = false };
        psi.Environment["LARGEGUEST_CONFIG"] = Config;
        foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        if (!p.WaitForExit(30_000)) { p.Kill(); throw new TimeoutException($"{psi.FileName} did not finish in 30 s"); }
        return new Result(p.ExitCode, stdout.Result, stderr);
    }

    public void Dispose()
    {
        _hooks.Dispose();
        try { Directory.Delete(Dir, true); } catch (IOException) { }
    }
}
