namespace Largeguest.Tests.Support;

/// <summary>What one VDSM hook-point run did.</summary>
/// <param name="ExitCodes">Exit code of each script run, in order (-1 when a signal ended it).</param>
/// <param name="Raised">VDSM would raise HookError (any non-zero exit): the VM start is aborted.</param>
public sealed record HookRun(IReadOnlyList<int> ExitCodes, string Stderr, byte[] Xml, bool Raised)
{
    public string XmlText => System.Text.Encoding.UTF8.GetString(Xml);

    public string Stdout { get; init; } = "";

    /// <summary>How each script ended, with its peak RSS and wall time (wait4).</summary>
    public IReadOnlyList<ChildExit> Exits { get; init; } = [];

    /// <summary>stat of the domain XML file before the first script and after the last one.</summary>
    public FileFacts? Before { get; init; }
    public FileFacts? After { get; init; }

    /// <summary>Where the domain XML was (deleted after the run, as VDSM deletes it).</summary>
    public string XmlPath { get; init; } = "";

    /// <summary>Files that appeared next to the domain XML during the run (e.g. a killed hook's temp file).</summary>
    public IReadOnlyList<string> LeftoverFiles { get; init; } = [];

    public bool Killed => Exits.Any(e => e.Signalled);

    /// <summary>The largest peak RSS of the scripts (only with <see cref="HookRunOptions.MeasureRss"/>).</summary>
    public long MaxRssKiB => Exits.Max(e => e.MaxRssKiB ?? throw new InvalidOperationException("run with MeasureRss " +
        "to measure RSS"));

    /// <summary>The file was not opened for writing: same inode, same size, same mtime.</summary>
    public bool FileUntouched => Before is not null && After is not null && Before.Inode == After.Inode
        && Before.MtimeSeconds == After.MtimeSeconds && Before.MtimeNanoseconds == After.MtimeNanoseconds
        && Before.Size == After.Size;

    public override string ToString() =>
        $"exit codes [{string.Join(",", ExitCodes)}], stderr: {Stderr.TrimEnd()}" + (Stdout.Length > 0 ? $", stdout: " +
            $"{Stdout.TrimEnd()}" : "");
}

/// <summary>How to run a hook point, beyond the VDSM defaults.</summary>
public sealed class HookRunOptions
{
    public string VmId { get; init; } = "3f6c3c8e-8d8a-4a40-9d5e-2f0d0c5e7a11";

    /// <summary>Added to (a value of null: removed from) the environment VDSM passes, after <c>_hook_domxml</c> and
    /// <c>vmId</c>.</summary>
    public IReadOnlyDictionary<string, string?>? Environment { get; init; }

    /// <summary>Where the domain XML temp file is created (default: a fresh private directory per run, as mkstemp in
    /// /tmp).</summary>
    public string? XmlDirectory { get; init; }

    /// <summary>Called with the XML path after it is written and before the first script (chmod, mount, fill a disk
    /// ...).</summary>
    public Action<string>? BeforeRun { get; init; }

    /// <summary>Called with the XML path after the last script and before the file is read back.</summary>
    public Action<string>? AfterRun { get; init; }

    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>SIGKILL each script this long after it started (if it is still running).</summary>
    public TimeSpan? KillAfter { get; init; }

    /// <summary>Run the scripts as this uid/gid (VDSM runs hooks as user vdsm), via setpriv. The XML file and its
    /// directory are given to it.</summary>
    public int? RunAsUid { get; init; }

    /// <summary>Measure each script's peak RSS through <see cref="RssProbe"/> (not with <see cref="KillAfter"/>: that
    /// would kill the probe).</summary>
    public bool MeasureRss { get; init; }
}

/// <summary>
/// Reproduces VDSM's hook protocol (vdsm/common/hooks.py): the domain XML goes to a temp file
/// (mode 0600, as mkstemp creates it) whose path is in <c>_hook_domxml</c>; each custom property
/// becomes an environment variable of the same name on top of a copy of VDSM's environment, plus
/// <c>vmId</c>; every executable in the hook point directory runs in name order; any non-zero exit is
/// an error, exit 2 also stops later hooks; the XML is re-read from the file afterwards.
/// For hermetic tests the copied environment loses the test process's own property and LARGEGUEST
/// variables, and <c>LARGEGUEST_CONFIG</c> points at an empty config file unless the test sets it:
/// a host config installed by someone else must not change what the tests see.
/// </summary>
public sealed class VdsmHookRunner : IDisposable
{
    public static readonly string[] HookPointNames = ["before_vm_start", "before_vm_migrate_destination",
        "before_vm_dehibernate", "after_vm_destroy"];

    private static readonly string[] PropertyNames = ["cputune", "numatune", "guestnuma", "ksm_merge_across_nodes",
        "pincpu", "numa"];

    public string HooksRoot { get; }

    /// <summary>Added to the environment of every run before <see cref="HookRunOptions.Environment"/> (e.g.
    /// <see cref="SampleHost.Environment"/>).</summary>
    public IReadOnlyDictionary<string, string> DefaultEnvironment { get; init; } = new Dictionary<string, string>();

    /// <summary>The empty config file LARGEGUEST_CONFIG names by default.</summary>
    public string EmptyConfigPath { get; }

    private readonly string _ioDir;
    private string? _rssProbe;

    /// <summary>Creates a private hooks tree with the published binary installed as 50_largeguest (a symlink, as the
    /// RPM does).</summary>
    public VdsmHookRunner(string? binary = null)
    {
        HooksRoot = Directory.CreateTempSubdirectory("largeguest-hooks-").FullName;
        // World-traversable, so that a run as another uid (RunAsUid) can reach the scripts.
        File.SetUnixFileMode(HooksRoot, (UnixFileMode)0x1ED);
        foreach (var point in HookPointNames)
        {
            var dir = Directory.CreateDirectory(Path.Combine(HooksRoot, point)).FullName;
            File.CreateSymbolicLink(Path.Combine(dir, "50_largeguest"), binary ?? PublishedBinary.Path);
        }
        _ioDir = Directory.CreateDirectory(Path.Combine(HooksRoot, ".io")).FullName;
        EmptyConfigPath = Path.Combine(HooksRoot, "empty-config.json");
        File.WriteAllText(EmptyConfigPath, "{}\n");
    }

    public string HookDir(string hookPoint) => Path.Combine(HooksRoot, hookPoint);

    /// <summary>Installs the binary as 50_largeguest in another (e.g. unknown) hook directory too.</summary>
    public void InstallAt(string hookPoint, string? binary = null)
    {
        var dir = Directory.CreateDirectory(HookDir(hookPoint)).FullName;
        File.CreateSymbolicLink(Path.Combine(dir, "50_largeguest"), binary ?? PublishedBinary.Path);
    }

    /// <summary>Adds another script to a hook point (e.g. to check ordering or exit-2 semantics).</summary>
    public void AddScript(string hookPoint, string name,
        string shellBody) => WriteScript(Path.Combine(HookDir(hookPoint), name), shellBody);

    /// <summary>Writes an executable (0755) shell script.</summary>
    public static void WriteScript(string path, string shellBody)
    {
        File.WriteAllText(path, "#!/bin/sh\n" + shellBody + "\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
    }

    public HookRun Run(string hookPoint, byte[] domxml, IReadOnlyDictionary<string, string> properties,
        string vmId = "3f6c3c8e-8d8a-4a40-9d5e-2f0d0c5e7a11", IReadOnlyDictionary<string, string>? environment = null,
        TimeSpan? timeout = null) =>
        Run(hookPoint, domxml, properties, new HookRunOptions
        {
            VmId = vmId,
            Environment = environment?.ToDictionary(kv => kv.Key, kv => (string?)kv.Value),
            Timeout = timeout ?? TimeSpan.FromSeconds(60),
        });

    public HookRun Run(string hookPoint, byte[] domxml, IReadOnlyDictionary<string, string> properties,
        HookRunOptions options)
    {
        var privateDir = options.XmlDirectory is null;
        var dir = options.XmlDirectory ?? Directory.CreateDirectory(Path.Combine(HooksRoot,
            "run-" + Guid.NewGuid().ToString("N"))).FullName;
        var xmlPath = Path.Combine(dir, $"tmp{Guid.NewGuid().ToString("N")[..8]}");
        var ioId = Guid.NewGuid().ToString("N");
        try
        {
            File.WriteAllBytes(xmlPath, domxml);
            File.SetUnixFileMode(xmlPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            if (options.RunAsUid is int uid)
            {
                Native.Sh($"chown {uid}:{uid} '{xmlPath}'");
                if (privateDir) Native.Sh($"chown {uid}:{uid} '{dir}'");
            }
            var before = Directory.GetFileSystemEntries(dir).ToHashSet();
            options.BeforeRun?.Invoke(xmlPath);
            var statBefore = Native.Stat(xmlPath);

            var env = Environment(options, properties, xmlPath);
            var codes = new List<int>();
            var exits = new List<ChildExit>();
            var stderr = new System.Text.StringBuilder();
            var stdout = new System.Text.StringBuilder();
            foreach (var script in Directory.GetFiles(HookDir(hookPoint)).Order(StringComparer.Ordinal))
            {
                var outPath = Path.Combine(_ioDir, ioId + ".out");
                var errPath = Path.Combine(_ioDir, ioId + ".err");
                var (path, argv) = options.RunAsUid is int u
                    ? ("/usr/bin/setpriv", new[] { "setpriv", $"--reuid={u}", $"--regid={u}", "--clear-groups",
                        script })
                    : (script, new[] { script });
                var rssPath = Path.Combine(_ioDir, ioId + ".rss");
                if (options.MeasureRss)
                {
                    if (options.KillAfter is not null)
                        throw new ArgumentException("MeasureRss and KillAfter do not mix");
                    argv = [RssProbe.Perl, _rssProbe ??= RssProbe.Install(_ioDir), rssPath,
                        ((int)Math.Ceiling(options.Timeout.TotalSeconds))
                            .ToString(System.Globalization.CultureInfo.InvariantCulture), path, .. argv];
                    path = RssProbe.Perl;
                }
                var child = Native.Spawn(path, argv, env, outPath, errPath);
                if (options.KillAfter is TimeSpan delay) KillAt(child, delay);
                var exit = child.Wait(options.Timeout + (options.MeasureRss ? TimeSpan.FromSeconds(5) : TimeSpan.Zero));
                if (options.MeasureRss && File.Exists(rssPath))
                {
                    var (rss, code, signal) = RssProbe.Read(rssPath);
                    exit = exit with { ExitCode = code, Signal = signal, MaxRssKiB = rss };
                }
                if (exit.Signal == 9 && options.KillAfter is null && exit.Elapsed >= options.Timeout)
                    throw new TimeoutException($"hook {script} did not finish within {options.Timeout}");
                exits.Add(exit);
                codes.Add(exit.ExitCode);
                stderr.Append(File.ReadAllText(errPath));
                stdout.Append(File.ReadAllText(outPath));
                if (exit.ExitCode == 2) break;
            }
            options.AfterRun?.Invoke(xmlPath);
            var statAfter = Native.Stat(xmlPath);
            var leftovers = Directory.GetFileSystemEntries(dir).Where(f => !before.Contains(f))
                .Select(Path.GetFileName).OfType<string>().ToList();
            var xml = File.Exists(xmlPath) ? File.ReadAllBytes(xmlPath) : [];
            return new HookRun(codes, stderr.ToString(), xml, codes.Any(c => c != 0))
            {
                Stdout = stdout.ToString(),
                Exits = exits,
                Before = statBefore,
                After = statAfter,
                XmlPath = xmlPath,
                LeftoverFiles = leftovers,
            };
        }
        finally
        {
            foreach (var f in Directory.GetFiles(_ioDir, ioId + ".*")) File.Delete(f);
            if (privateDir) { try { Directory.Delete(dir, recursive: true); } catch (IOException) { } }
            else if (File.Exists(xmlPath))
            {
                try { File.Delete(xmlPath); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
        }
    }

    /// <summary>
    /// This process's environment as the VDSM environment hooks inherit, made hermetic: without the custom
    /// property, <c>LARGEGUEST*</c> and <c>_hook_domxml</c> variables, and <c>LARGEGUEST_CONFIG</c> at
    /// <paramref name="configPath"/>.
    /// </summary>
    public static Dictionary<string, string> HermeticEnvironment(string configPath)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (System.Collections.DictionaryEntry e in System.Environment.GetEnvironmentVariables())
        {
            var key = (string)e.Key;
            if (PropertyNames.Contains(key) || key.StartsWith("LARGEGUEST",
                StringComparison.OrdinalIgnoreCase) || key == "_hook_domxml") continue;
            env[key] = (string?)e.Value ?? "";
        }
        env["LARGEGUEST_CONFIG"] = configPath;
        return env;
    }

    private Dictionary<string, string> Environment(HookRunOptions options, IReadOnlyDictionary<string,
        string> properties, string xmlPath)
    {
        var env = HermeticEnvironment(EmptyConfigPath);
        env["vmId"] = options.VmId;
        env["_hook_domxml"] = xmlPath;
        foreach (var (k, v) in DefaultEnvironment) env[k] = v;
        if (options.Environment is not null)
            foreach (var (k, v) in options.Environment)
                if (v is null) env.Remove(k); else env[k] = v;
        foreach (var (k, v) in properties) env[k] = v;
        return env;
    }

    /// <summary>Kills <paramref name="child"/> as close to <paramref name="delay"/> after its start as the clock
    /// allows.</summary>
    private static void KillAt(Native.Child child, TimeSpan delay)
    {
        var coarse = delay - TimeSpan.FromMilliseconds(2);
        if (coarse > child.Age) Thread.Sleep(coarse - child.Age);
        while (child.Age < delay) Thread.SpinWait(20);
        child.Kill();
    }

    public void Dispose()
    {
        try { Directory.Delete(HooksRoot,
            recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
