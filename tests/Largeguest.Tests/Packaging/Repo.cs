using System.Diagnostics;
using System.Text;
using System.Xml.Linq;

namespace Largeguest.Tests.Packaging;

/// <summary>Paths of the repository the tests run from, and the external tools they drive.</summary>
internal static class Repo
{
    public static string Root => Support.PublishedBinary.RepoRoot;

    public static string PathOf(string relative) => Path.Combine(Root, relative);

    public static string ReadText(string relative) => File.ReadAllText(PathOf(relative));

    /// <summary>The product version, as <c>make rpm</c> reads it (Directory.Build.props &lt;Version&gt;).</summary>
    public static string Version { get; } =
        XDocument.Load(PathOf("Directory.Build.props")).Descendants("Version").Single().Value.Trim();

    /// <summary>The published hook (LARGEGUEST_BIN or out/largeguest), which `make rpm` packages.</summary>
    public static string PublishedBinary => Support.PublishedBinary.Path;
}

public sealed record ToolResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}

/// <summary>Runs real tools (make, rpm, visudo, java, objdump) and fails loudly when one is missing.</summary>
internal static class Tool
{
    public static ToolResult Run(string file, IEnumerable<string> args, string? workingDirectory = null,
        IReadOnlyDictionary<string, string>? environment = null, bool clearEnvironment = false,
            TimeSpan? timeout = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Repo.Root,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (clearEnvironment) psi.Environment.Clear();
        if (environment is not null)
            foreach (var (k, v) in environment) psi.Environment[k] = v;

        using var process = new Process { StartInfo = psi };
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        try { process.Start(); }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException(
                $"cannot run '{file}': {e.Message}. The packaging tests need it; `make test` installs it (make deps).",
                    e);
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var limit = timeout ?? TimeSpan.FromMinutes(5);
        if (!process.WaitForExit(limit))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"'{file} {string.Join(' ', args)}' did not finish within {limit}");
        }
        process.WaitForExit();
        return new ToolResult(process.ExitCode, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Runs and requires exit status 0, showing everything the tool said otherwise.</summary>
    public static ToolResult Check(string file, params string[] args)
    {
        var result = Run(file, args);
        result.ExitCode.Should().Be(0, $"'{file} {string.Join(' ', args)}' must succeed:\n{result}");
        return result;
    }

    /// <summary>The absolute path of a required executable, or a loud failure naming the Debian package.</summary>
    public static string Require(string name, string package)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':')
            .Append("/usr/sbin").Append("/sbin"))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate)) return candidate;
        }
        throw new InvalidOperationException(
            $"'{name}' is not installed: the packaging tests need the Debian package '{package}' (`make deps` " +
                $"installs it)");
    }
}

/// <summary>A temporary directory removed at dispose.</summary>
internal sealed class ScratchDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("largeguest-pkg-").FullName;

    public string this[string relative] => System.IO.Path.Combine(Path, relative.TrimStart('/'));

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
