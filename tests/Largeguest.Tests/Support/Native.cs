using System.Runtime.InteropServices;
using System.Text;

namespace Largeguest.Tests.Support;

/// <summary>What stat(2) says about a file: enough to tell "not touched" (same inode, same mtime) from
/// "replaced".</summary>
public sealed record FileFacts(ulong Inode, uint Mode, uint Uid, long Size, long MtimeSeconds, long MtimeNanoseconds)
{
    public UnixFileMode Permissions => (UnixFileMode)(Mode & 0xFFF);
    public override string ToString() => $"inode {Inode}, mode {Convert.ToString(Mode & 0xFFF, 8)}, {Size} bytes, " +
        $"mtime {MtimeSeconds}.{MtimeNanoseconds:D9}";
}

/// <summary>The end of one child process as wait4(2) reports it.</summary>
/// <param name="ExitCode">The exit status, or -1 when a signal ended it.</param>
/// <param name="Signal">The signal that ended it, or 0.</param>
/// <param name="MaxRssKiB">The child's peak resident set size, when measured through <see cref="RssProbe"/> (else null:
/// a child's own ru_maxrss includes the high-water mark of the process that spawned it, here the test host).</param>
public sealed record ChildExit(int Pid, int ExitCode, int Signal, long? MaxRssKiB, TimeSpan Elapsed)
{
    public bool Signalled => Signal != 0;
}

/// <summary>
/// posix_spawn + wait4 for the process-level tests: unlike System.Diagnostics.Process, it gives each
/// child's own peak RSS (ru_maxrss) and lets a test SIGKILL the child at a precise instant. .NET's
/// SIGCHLD handling only reaps the children it started itself, so these are ours to reap.
/// </summary>
public static class Native
{
    private const int SIGKILL = 9;
    private const int O_WRONLY = 1, O_CREAT = 0x40, O_TRUNC = 0x200, O_RDONLY = 0;
    private const int EINTR = 4;

    [DllImport("libc", SetLastError = true)]
    private static extern int posix_spawn(out int pid, string path, IntPtr fileActions, IntPtr attr, IntPtr[] argv,
        IntPtr[] envp);

    [DllImport("libc", SetLastError = true)]
    private static extern int posix_spawn_file_actions_init(IntPtr actions);

    [DllImport("libc", SetLastError = true)]
    private static extern int posix_spawn_file_actions_destroy(IntPtr actions);

    [DllImport("libc", SetLastError = true)]
    private static extern int posix_spawn_file_actions_addopen(IntPtr actions, int fd, string path, int oflag,
        uint mode);

    [DllImport("libc", SetLastError = true)]
    private static extern int wait4(int pid, out int status, int options, byte[] rusage);

    [DllImport("libc", SetLastError = true)]
    private static extern int waitid(int idtype, int id, byte[] siginfo, int options);

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);

    [DllImport("libc", SetLastError = true, EntryPoint = "stat")]
    private static extern int stat_(string path, byte[] buf);

    /// <summary>stat(2) of <paramref name="path"/> (following symlinks), or null when it does not exist.</summary>
    /// <summary>kill(2): sends <paramref name="signal"/> to a process; 0 or -1.</summary>
    public static int Signal(int pid, int signal) => kill(pid, signal);

    public static FileFacts? Stat(string path)
    {
        var buf = new byte[256];
        if (stat_(path, buf) != 0) return null;
        // struct stat on x86_64 glibc: st_ino @8, st_mode @24, st_uid @28, st_size @48, st_mtim @88.
        return new FileFacts(BitConverter.ToUInt64(buf, 8), BitConverter.ToUInt32(buf, 24), BitConverter.ToUInt32(buf,
            28),
            BitConverter.ToInt64(buf, 48), BitConverter.ToInt64(buf, 88), BitConverter.ToInt64(buf, 96));
    }

    /// <summary>A started child: kill it, then <see cref="Wait"/> exactly once.</summary>
    public sealed class Child
    {
        private readonly System.Diagnostics.Stopwatch _clock;
        private readonly object _gate = new();
        private bool _reaped;

        internal Child(int pid, System.Diagnostics.Stopwatch clock) { Pid = pid; _clock = clock; }

        public int Pid { get; }
        public TimeSpan Age => _clock.Elapsed;

        /// <summary>SIGKILL, unless the child has been reaped already (its pid may belong to someone else
        /// then).</summary>
        public void Kill()
        {
            lock (_gate) if (!_reaped) kill(Pid, SIGKILL);
        }

        /// <summary>Waits for the child (killing it after <paramref name="timeout"/>) and returns how it
        /// ended.</summary>
        public ChildExit Wait(TimeSpan timeout)
        {
            using var timer = new Timer(_ => Kill(), null, timeout, Timeout.InfiniteTimeSpan);
            const int P_PID = 1, WEXITED = 4, WNOWAIT = 0x01000000;
            var siginfo = new byte[128];
            int w;
            // Wait without reaping first, so that Kill() can never hit a recycled pid.
            do w = waitid(P_PID, Pid, siginfo,
                WEXITED | WNOWAIT); while (w < 0 && Marshal.GetLastPInvokeError() == EINTR);
            var elapsed = _clock.Elapsed;
            lock (_gate) _reaped = true;
            var rusage = new byte[144];
            int status, r;
            do r = wait4(Pid, out status, 0, rusage); while (r < 0 && Marshal.GetLastPInvokeError() == EINTR);
            if (r != Pid) throw new InvalidOperationException($"wait4({Pid}) failed: errno " +
                $"{Marshal.GetLastPInvokeError()}");
            var signal = status & 0x7f;
            var exit = signal == 0 ? (status >> 8) & 0xff : -1;
            return new ChildExit(Pid, exit, signal, null, elapsed);
        }
    }

    /// <summary>
    /// Starts <paramref name="path"/> with exactly <paramref name="argv"/> (argv[0] included) and
    /// <paramref name="environment"/>; stdin is /dev/null, stdout and stderr go to the given files.
    /// </summary>
    public static Child Spawn(string path, IReadOnlyList<string> argv, IReadOnlyDictionary<string, string> environment,
        string stdoutPath, string stderrPath)
    {
        var allocated = new List<IntPtr>();
        IntPtr Utf8(string s) { var p = Marshal.StringToCoTaskMemUTF8(s); allocated.Add(p); return p; }
        var args = argv.Select(Utf8).Append(IntPtr.Zero).ToArray();
        var env = environment.Select(kv => Utf8($"{kv.Key}={kv.Value}")).Append(IntPtr.Zero).ToArray();
        var actions = Marshal.AllocHGlobal(256); // posix_spawn_file_actions_t is 80 bytes on glibc
        try
        {
            Check(posix_spawn_file_actions_init(actions), "posix_spawn_file_actions_init");
            try
            {
                Check(posix_spawn_file_actions_addopen(actions, 0, "/dev/null", O_RDONLY, 0), "addopen stdin");
                Check(posix_spawn_file_actions_addopen(actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0x180),
                    "addopen stdout");
                Check(posix_spawn_file_actions_addopen(actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0x180),
                    "addopen stderr");
                var clock = System.Diagnostics.Stopwatch.StartNew();
                var rc = posix_spawn(out var pid, path, actions, IntPtr.Zero, args, env);
                if (rc != 0) throw new InvalidOperationException($"posix_spawn {path}: errno {rc}");
                return new Child(pid, clock);
            }
            finally { posix_spawn_file_actions_destroy(actions); }
        }
        finally
        {
            Marshal.FreeHGlobal(actions);
            foreach (var p in allocated) Marshal.FreeCoTaskMem(p);
        }
    }

    private static void Check(int rc, string what)
    {
        if (rc != 0) throw new InvalidOperationException($"{what}: errno {rc}");
    }

    /// <summary>Runs a command to completion (for test set-up: mount, chown ...), failing loudly when it
    /// fails.</summary>
    public static string Sh(string command)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("/bin/sh", ["-c", command])
        { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = System.Diagnostics.Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"`{command}` exited {p.ExitCode}: {stderr.Trim()}");
        return stdout.Result;
    }

    internal static string Utf8Text(byte[] bytes) => Encoding.UTF8.GetString(bytes);
}

/// <summary>
/// Measures a program's peak RSS with wait4(2) from a small parent. exec(2) records the old address
/// space's high-water mark in the process's ru_maxrss, so a hook spawned straight from the test host
/// would report the test host's peak. perl (perl-base is Essential on Debian) forks the program from a
/// ~3 MiB process, waits for it with the raw wait4 syscall and writes "maxrss utime stime status" to a
/// file; its exit code is the program's (128 + signal when a signal ended it). A run that takes longer
/// than the timeout is SIGKILLed by the probe.
/// </summary>
public static class RssProbe
{
    public const string Perl = "/usr/bin/perl";

    public const string Script = """
        my ($out, $timeout, $path, @argv) = @ARGV;
        my $pid = fork();
        die "fork: $!" unless defined $pid;
        if ($pid == 0) { exec { $path } @argv; exit 127; }
        local $SIG{ALRM} = sub { kill 'KILL', $pid };
        alarm $timeout;
        my ($st, $ru) = ("\0" x 8, "\0" x 144);
        my $r;
        do { $r = syscall(61, $pid, $st, 0, $ru) } while ($r == -1 && $!{EINTR});
        alarm 0;
        my $status = unpack("l", $st);
        my @ru = unpack("q5", $ru);
        open(my $fh, '>', $out) or die "$out: $!";
        print $fh "$ru[4] $ru[0] $ru[1] $ru[2] $ru[3] $status\n";
        close $fh;
        my $sig = $status & 127;
        exit($sig ? 128 + $sig : ($status >> 8) & 255);
        """;

    /// <summary>Writes the probe script into <paramref name="dir"/> and returns its path; fails loudly without
    /// perl.</summary>
    public static string Install(string dir)
    {
        if (!File.Exists(Perl))
            throw new InvalidOperationException($"{Perl} is missing: the RSS probe needs perl (Debian's perl-base, " +
                $"an Essential package)");
        var path = Path.Combine(dir, "rss-probe.pl");
        File.WriteAllText(path, Script);
        return path;
    }

    /// <summary>Reads the probe's result: peak RSS in KiB, exit code (-1 if signalled) and signal.</summary>
    public static (long MaxRssKiB, int ExitCode, int Signal) Read(string outFile)
    {
        var f = File.ReadAllText(outFile).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var status = int.Parse(f[5], System.Globalization.CultureInfo.InvariantCulture);
        var signal = status & 0x7f;
        return (long.Parse(f[0], System.Globalization.CultureInfo.InvariantCulture),
            signal == 0 ? (status >> 8) & 0xff : -1, signal);
    }
}
