using System.Diagnostics;

namespace Largeguest.Tests.Host;

/// <summary>
/// Runs the published binary (env LARGEGUEST_BIN, set by scripts/run-tests.sh) the way VDSM does: from a hook
/// directory (argv[0] names the hook point), with only the given environment plus PATH.
/// </summary>
public sealed class PublishedBinary : IDisposable
{
    public string Dir { get; } = Directory.CreateTempSubdirectory("lg-proc-").FullName;
    public string Bin { get; }

    public PublishedBinary()
    {
        var bin = Environment.GetEnvironmentVariable("LARGEGUEST_BIN");
        if (string.IsNullOrEmpty(bin) || !File.Exists(bin))
            throw new InvalidOperationException($"LARGEGUEST_BIN is '{bin}': these tests run the published binary; use 'make test' (it publishes out/largeguest and sets LARGEGUEST_BIN)");
        Bin = bin;
        File.WriteAllText(Config, "{}\n");
    }

    /// <summary>An empty configuration file, so that a machine's /etc/vdsm-hook-largeguest/largeguest.json cannot leak in.</summary>
    public string Config => Path.Combine(Dir, "largeguest.json");

    public sealed record Result(int Exit, string Stdout, string Stderr)
    {
        public string[] StderrLines => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    /// <summary>Runs the hook at <paramref name="hookPoint"/> on <paramref name="xml"/>; returns the result and the file's bytes after.</summary>
    public (Result Result, string XmlAfter, bool Unchanged) Hook(string xml, IDictionary<string, string> env, string hookPoint = "before_vm_start")
    {
        var hookDir = Path.Combine(Dir, hookPoint);
        Directory.CreateDirectory(hookDir);
        var link = Path.Combine(hookDir, "50_largeguest");
        if (!File.Exists(link)) File.CreateSymbolicLink(link, Bin);
        var domxml = Path.Combine(Dir, $"domain-{Guid.NewGuid():N}.xml");
        File.WriteAllText(domxml, xml);
        var before = File.ReadAllBytes(domxml);
        var mtime = File.GetLastWriteTimeUtc(domxml);
        var all = new Dictionary<string, string>(env) { ["_hook_domxml"] = domxml, ["vmId"] = "5d2a1a4c-0000-4000-8000-000000000001" };
        var result = Run(link, [], all);
        var after = File.ReadAllBytes(domxml);
        return (result, File.ReadAllText(domxml), after.AsSpan().SequenceEqual(before) && File.GetLastWriteTimeUtc(domxml) == mtime);
    }

    public Result Cli(IDictionary<string, string> env, params string[] args) => Run(Bin, args, env);

    private Result Run(string file, string[] args, IDictionary<string, string> env)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.Environment.Clear();
        psi.Environment["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin";
        psi.Environment["LARGEGUEST_CONFIG"] = Config;
        foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        if (!p.WaitForExit(30_000)) { p.Kill(); throw new TimeoutException($"{file} did not finish in 30 s"); }
        return new Result(p.ExitCode, stdout.Result, stderr);
    }

    public void Dispose()
    {
        try { Directory.Delete(Dir, true); } catch (IOException) { }
    }
}
