using System.Diagnostics;

namespace Largeguest.Tests.Support;

/// <summary>What one VDSM hook-point run did.</summary>
/// <param name="ExitCodes">Exit code of each script run, in order.</param>
/// <param name="Raised">VDSM would raise HookError (any non-zero exit): the VM start is aborted.</param>
public sealed record HookRun(IReadOnlyList<int> ExitCodes, string Stderr, byte[] Xml, bool Raised)
{
    public string XmlText => System.Text.Encoding.UTF8.GetString(Xml);
}

/// <summary>
/// Reproduces VDSM's hook protocol (vdsm/common/hooks.py): the domain XML goes to a temp file whose
/// path is in <c>_hook_domxml</c>; each custom property becomes an environment variable of the same
/// name on top of a copy of VDSM's environment, plus <c>vmId</c>; every executable in the hook point
/// directory runs in name order; any non-zero exit is an error, exit 2 also stops later hooks; the
/// XML is re-read from the file afterwards.
/// </summary>
public sealed class VdsmHookRunner : IDisposable
{
    public string HooksRoot { get; }

    /// <summary>Creates a private hooks tree with the published binary installed as 50_largeguest (a symlink, as the RPM does).</summary>
    public VdsmHookRunner(string? binary = null)
    {
        HooksRoot = Directory.CreateTempSubdirectory("largeguest-hooks-").FullName;
        foreach (var point in new[] { "before_vm_start", "before_vm_migrate_destination", "before_vm_dehibernate", "after_vm_destroy" })
        {
            var dir = Directory.CreateDirectory(Path.Combine(HooksRoot, point)).FullName;
            File.CreateSymbolicLink(Path.Combine(dir, "50_largeguest"), binary ?? PublishedBinary.Path);
        }
    }

    public string HookDir(string hookPoint) => Path.Combine(HooksRoot, hookPoint);

    /// <summary>Adds another script to a hook point (e.g. to check ordering or exit-2 semantics).</summary>
    public void AddScript(string hookPoint, string name, string shellBody)
    {
        var path = Path.Combine(HookDir(hookPoint), name);
        File.WriteAllText(path, "#!/bin/sh\n" + shellBody + "\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    public HookRun Run(string hookPoint, byte[] domxml, IReadOnlyDictionary<string, string> properties,
        string vmId = "3f6c3c8e-8d8a-4a40-9d5e-2f0d0c5e7a11", IReadOnlyDictionary<string, string>? environment = null,
        TimeSpan? timeout = null)
    {
        var xmlPath = Path.Combine(Path.GetTempPath(), $"vdsm-hook-{Guid.NewGuid():N}.xml");
        File.WriteAllBytes(xmlPath, domxml);
        try
        {
            var codes = new List<int>();
            var stderr = new System.Text.StringBuilder();
            var scripts = Directory.GetFiles(HookDir(hookPoint)).Order(StringComparer.Ordinal).ToList();
            foreach (var script in scripts)
            {
                var psi = new ProcessStartInfo(script) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
                if (environment is not null) foreach (var (k, v) in environment) psi.Environment[k] = v;
                foreach (var (k, v) in properties) psi.Environment[k] = v;
                psi.Environment["vmId"] = vmId;
                psi.Environment["_hook_domxml"] = xmlPath;
                using var p = Process.Start(psi)!;
                var err = p.StandardError.ReadToEndAsync();
                var @out = p.StandardOutput.ReadToEndAsync();
                if (!p.WaitForExit(timeout ?? TimeSpan.FromSeconds(60)))
                {
                    p.Kill(entireProcessTree: true);
                    throw new TimeoutException($"hook {script} did not finish");
                }
                stderr.Append(err.Result);
                codes.Add(p.ExitCode);
                if (p.ExitCode == 2) break;
            }
            return new HookRun(codes, stderr.ToString(), File.ReadAllBytes(xmlPath), codes.Any(c => c != 0));
        }
        finally { File.Delete(xmlPath); }
    }

    public void Dispose()
    {
        try { Directory.Delete(HooksRoot, recursive: true); } catch (IOException) { }
    }
}
