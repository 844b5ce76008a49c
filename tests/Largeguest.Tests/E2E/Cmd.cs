using System.Diagnostics;

namespace Largeguest.Tests.E2E;

/// <summary>What one external command did.</summary>
public sealed record CmdResult(string Command, int ExitCode, string Stdout, string Stderr)
{
    public bool Ok => ExitCode == 0;

    /// <summary>The stdout of a command that must succeed; otherwise an exception quoting the command and its stderr.</summary>
    public string OrThrow() => Ok ? Stdout
        : throw new InvalidOperationException($"`{Command}` failed with exit {ExitCode}: {Stderr.Trim()} {Stdout.Trim()}".TrimEnd());
}

/// <summary>Runs an external command with a time limit, capturing its output (no shell).</summary>
public static class Cmd
{
    public static CmdResult Run(string file, IEnumerable<string> args, TimeSpan? timeout = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (environment is not null) foreach (var (k, v) in environment) psi.Environment[k] = v;
        var text = file + " " + string.Join(' ', psi.ArgumentList);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start `{text}`");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        var limit = timeout ?? TimeSpan.FromSeconds(60);
        if (!p.WaitForExit(limit))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            throw new TimeoutException($"`{text}` did not finish within {limit.TotalSeconds:0} s; stderr so far: {stderr.Result.Trim()}");
        }
        return new CmdResult(text, p.ExitCode, stdout.Result, stderr.Result);
    }
}
