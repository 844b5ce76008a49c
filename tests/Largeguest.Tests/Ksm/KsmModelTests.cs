using Largeguest.Tests.Support;
using System.Diagnostics;
using Largeguest.Ksm;

namespace Largeguest.Tests.Ksm;

/// <summary>The sysfs model over a fixture directory, range validation, and the small state files.</summary>
public sealed class KsmModelTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("largeguest-ksm-model-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Fixture(params (string File, string Content)[] files)
    {
        var root = Path.Combine(_dir, "ksm");
        Directory.CreateDirectory(root);
        foreach (var (file, content) in files) File.WriteAllText(Path.Combine(root, file), content);
        return root;
    }

    [Fact]
    public void Reads_every_file_present_and_tolerates_missing_ones()
    {
        // A Linux 4.x-like directory: no zero-page counter, no advisor, no smart_scan; plus a file from the future.
        var root = Fixture(("run", "1\n"), ("merge_across_nodes", "0\n"), ("pages_shared", "12\n"), ("pages_sharing",
            "340\n"),
            ("pages_to_scan", "100\n"), ("full_scans", "7\n"), ("future_knob", "42\n"));
        var state = new KsmSysfs(root).Read();
        state.Present.Should().BeTrue();
        (state.Run, state.MergeAcrossNodes, state.PagesShared, state.PagesSharing, state.ZeroPages)
            .Should().Be(((KsmRun?)KsmRun.Merge, (bool?)false, 12L, 340L, 0L));
        state.Values.Should().HaveCount(7);
        state.Unknown.Should().Equal("future_knob");
        state.Number("advisor_max_cpu").Should().BeNull();
    }

    [Fact]
    public void A_kernel_without_ksm_reads_as_absent() =>
        new KsmSysfs(Path.Combine(_dir, "no-such-dir")).Read().Present.Should().BeFalse();

    [Fact]
    public void Reads_the_advisor_choice_and_signed_profit()
    {
        var state = new KsmSysfs(Fixture(("advisor_mode", "none [scan-time]\n"), ("general_profit", "-8192\n"))).Read();
        state.Choice("advisor_mode").Should().Be("scan-time");
        state.Number("general_profit").Should().Be(-8192);
    }

    [Theory]
    [InlineData("run", "2", "2")]
    [InlineData("run", " 0\n", "0")]
    [InlineData("merge_across_nodes", "1", "1")]
    [InlineData("pages_to_scan", "4294967295", "4294967295")]
    [InlineData("max_page_sharing", "2", "2")]
    [InlineData("advisor_mode", "scan-time", "scan-time")]
    [InlineData("advisor_max_cpu", "100", "100")]
    [InlineData("sleep_millisecs", "007", "7")]
    public void Writes_values_in_range(string file, string value, string written)
    {
        var root = Fixture((file,
            "")); // sysfs takes the value in one write(2); a plain file is not truncated, so start empty
        new KsmSysfs(root).Write(file, value);
        File.ReadAllText(Path.Combine(root, file)).Should().Be(written);
    }

    [Theory]
    [InlineData("run", "3", "a whole number from 0 to 2")]
    [InlineData("run", "-1", "a whole number from 0 to 2")]
    [InlineData("run", "1x", "a whole number from 0 to 2")]
    [InlineData("merge_across_nodes", "2", "0 or 1")]
    [InlineData("merge_across_nodes", "yes", "0 or 1")]
    [InlineData("pages_to_scan", "4294967296", "a whole number from 0 to 4294967295")]
    [InlineData("max_page_sharing", "1", "a whole number from 2 to 2147483647")]
    [InlineData("advisor_mode", "fast", "none or scan-time")]
    [InlineData("advisor_max_cpu", "0", "a whole number from 1 to 100")]
    [InlineData("pages_shared", "0", "nothing: the kernel maintains it")]
    public void Refuses_values_out_of_range_before_the_kernel_sees_them(string file, string value, string expected)
    {
        var root = Fixture((file, "5\n"));
        FluentActions.Invoking(() => new KsmSysfs(root).Write(file, value)).Should().Throw<KsmValueException>()
            .WithMessage($"{file}: bad value '{value}' (expected: {expected})");
        File.ReadAllText(Path.Combine(root, file)).Should().Be("5\n", "nothing may be written");
    }

    [Fact]
    public void Refuses_files_it_does_not_know() =>
        FluentActions.Invoking(() => new KsmSysfs(Fixture()).Write("../../../etc/passwd", "1"))
            .Should().Throw<KsmException>().WithMessage("*not a KSM file*");

    [Fact]
    public void A_kernel_refusal_carries_its_errno()
    {
        var root = Fixture();
        Directory.CreateDirectory(Path.Combine(root, "run")); // open(O_WRONLY) on a directory: EISDIR
        var e = FluentActions.Invoking(() => new KsmSysfs(root).Write("run", "1")).Should().Throw<KsmWriteException>()
            .Which;
        e.Errno.Should().Be(21);
        e.Busy.Should().BeFalse();
        e.Message.Should().Contain("Is a directory");
    }

    [Fact]
    public void Reads_MemAvailable_from_meminfo()
    {
        var meminfo = Path.Combine(_dir, "meminfo");
        File.WriteAllText(meminfo, "MemTotal:       24683628 kB\nMemFree:        23000000 kB\nMemAvailable:   " +
            "24336964 kB\n");
        new KsmSysfs(Fixture(), meminfo).MemAvailableBytes().Should().Be(24336964L * 1024);
        File.WriteAllText(meminfo, "MemTotal:       24683628 kB\nMemFree:        23000000 kB\n"); // before Linux 3.14
        FluentActions.Invoking(() => new KsmSysfs(Fixture(), meminfo).MemAvailableBytes())
            .Should().Throw<KsmException>().WithMessage($"{meminfo}: no MemAvailable line");
    }

    [Theory]
    [InlineData("error")]
    [InlineData("warning")]
    [InlineData("note")]
    public void The_helper_lines_the_hook_relays_are_read_back_as_Diagnostics_wrote_them(string severity)
    {
        var written = new StringWriter();
        var diag = new Largeguest.IO.Diagnostics(written);
        var message = "ksm: merge_across_nodes 1 -> 0 (asked by VM x): unmerged 1 pages";
        ((Action<string>)(severity switch { "error" => diag.Error, "warning" => diag.Warn, _ => diag.Note }))(message);
        var parsed = Largeguest.IO.Diagnostics.Parse(written.ToString().TrimEnd('\n'));
        parsed.Should().NotBeNull();
        (parsed!.Value.Severity.ToString().ToLowerInvariant(), parsed.Value.Text).Should().Be((severity, message));
        KsmService.Classify(written.ToString().TrimEnd('\n'))
            .Should().Be(severity == "error" ? (false, written.ToString().TrimEnd('\n')) : (severity == "warning",
            message));
        Largeguest.IO.Diagnostics.Parse("sudo: a password is required").Should().BeNull();
    }

    [Theory]
    [InlineData("3f6c3c8e-8d8a-4a40-9d5e-2f0d0c5e7a11", true)]
    [InlineData("3F6C3C8E-8D8A-4A40-9D5E-2F0D0C5E7A11", true)]
    [InlineData("3f6c3c8e8d8a4a409d5e2f0d0c5e7a11", false)]
    [InlineData("3f6c3c8e-8d8a-4a40-9d5e-2f0d0c5e7a1", false)]
    [InlineData("3f6c3c8e-8d8a-4a40-9d5e-2f0d0c5e7a1g", false)]
    [InlineData("../../../../etc/passwd-aaaaaaaaaaaaa", false)]
    [InlineData("", false)]
    public void VM_ids_are_strict_UUIDs(string text, bool valid)
    {
        VmId.TryParse(text, out var id).Should().Be(valid);
        if (valid) id.Value.Should().Be(text.ToLowerInvariant());
    }

    private const string Uuid = "3f6c3c8e-8d8a-4a40-9d5e-2f0d0c5e7a11";

    [Fact]
    public void The_helper_argument_vector_round_trips()
    {
        var call = new KsmHelperCall(VmId.Parse(Uuid), false);
        call.Arguments.Should().Equal("ksm", "reconcile", "--vm", Uuid, "--merge-across-nodes", "0");
        KsmHelperCall.Parse(call.Arguments).Should().Be(call);
        var release = new KsmHelperCall(VmId.Parse(Uuid), null);
        release.Arguments.Should().Equal("ksm", "release", "--vm", Uuid);
        KsmHelperCall.Parse(release.Arguments).Should().Be(release);
    }

    [Theory]
    [InlineData("ksm reconcile --vm " + Uuid + " --merge-across-nodes 2")]
    [InlineData("ksm reconcile --vm " + Uuid + " --merge-across-nodes=0")]
    [InlineData("ksm reconcile --vm=" + Uuid + " --merge-across-nodes 0")]
    [InlineData("ksm reconcile --merge-across-nodes 0 --vm " + Uuid)]
    [InlineData("ksm reconcile --vm " + Uuid + " --merge-across-nodes 0 --extra")]
    [InlineData("ksm reconcile --vm " + Uuid + " --merge-across-nodes 0 0")]
    [InlineData("ksm reconcile --vm " + Uuid)]
    [InlineData("ksm reconcile --vm not-a-uuid --merge-across-nodes 0")]
    [InlineData("ksm reconcile --vm @/etc/shadow --merge-across-nodes 0")]
    [InlineData("ksm release --vm " + Uuid + " --merge-across-nodes 0")]
    [InlineData("ksm release " + Uuid)]
    [InlineData("ksm status")]
    [InlineData("check cputune=0#0")]
    [InlineData("")]
    public void The_helper_refuses_every_other_argument_vector(string args) =>
        FluentActions.Invoking(() => KsmHelperCall.Parse(args.Split(' ', StringSplitOptions.RemoveEmptyEntries)))
            .Should().Throw<KsmException>().WithMessage("privileged ksm entry: refused arguments*expected exactly*");

    [Fact]
    public void Tokens_with_embedded_spaces_are_refused() =>
        FluentActions.Invoking(() => KsmHelperCall.Parse(["ksm", "reconcile", "--vm", Uuid, "--merge-across-nodes",
            "0 "]))
            .Should().Throw<KsmException>();

    [Fact]
    public void Requests_register_replace_list_and_release()
    {
        var registry = new KsmRequests(Path.Combine(_dir, "state"));
        var a = VmId.Parse(Uuid);
        var b = VmId.Parse("00000000-0000-4000-8000-000000000000");
        var t = new DateTimeOffset(2025, 3, 4, 5, 6, 7, 890, TimeSpan.Zero);
        registry.Register(new KsmRequest(a, true, t));
        registry.Register(new KsmRequest(a, false, t.AddSeconds(1)));  // the same VM again: replaced, not added
        registry.Register(new KsmRequest(b, true, t));
        registry.List().Should().Equal(new KsmRequest(b, true, t), new KsmRequest(a, false, t.AddSeconds(1)));
        File.ReadAllText(registry.PathOf(a))
            .Should().Be($"merge_across_nodes=0\nregistered_unix_ms={t.AddSeconds(1).ToUnixTimeMilliseconds()}\n");
        Directory.GetFiles(registry.Directory).Should().HaveCount(2, "no temp files are left behind");
        registry.Release(a).Should().BeTrue();
        registry.Release(a).Should().BeFalse();
        registry.List().Select(r => r.Vm).Should().Equal(b);
    }

    [Fact]
    public void A_stale_request_is_removed_only_while_it_is_still_the_one_read()
    {
        var registry = new KsmRequests(Path.Combine(_dir, "state"));
        var a = VmId.Parse(Uuid);
        var old = new KsmRequest(a, false, new DateTimeOffset(2025, 3, 4, 5, 6, 7, 890, TimeSpan.Zero));
        registry.Register(old);
        var fresh = old with { MergeAcrossNodes = true, Registered = old.Registered.AddHours(2) };
        registry.Register(fresh); // the VM started again after the stale entry was read
        registry.ReleaseIf(old).Should().BeFalse();
        registry.List().Should().Equal(fresh);
        Directory.GetFiles(registry.Directory).Should().Equal([registry.PathOf(a)], "nothing is left aside");

        registry.ReleaseIf(fresh).Should().BeTrue();
        registry.List().Should().BeEmpty();
        Directory.GetFiles(registry.Directory).Should().BeEmpty();
        registry.ReleaseIf(fresh).Should().BeFalse("already gone");
    }

    [Fact]
    public void Malformed_request_entries_are_skipped_with_a_warning()
    {
        var registry = new KsmRequests(Path.Combine(_dir, "state"));
        Directory.CreateDirectory(registry.Directory);
        File.WriteAllText(Path.Combine(registry.Directory, "not-a-uuid"), "merge_across_nodes=0\n");
        File.WriteAllText(Path.Combine(registry.Directory, Uuid), "merge_across_nodes=7\n");
        File.WriteAllText(Path.Combine(registry.Directory, ".tmp-in-flight"), "whatever");
        var warnings = new List<string>();
        registry.List(warnings.Add).Should().BeEmpty();
        warnings.Should().HaveCount(2).And.AllSatisfy(w => w.Should().Contain("not a KSM request"));
    }

    [Theory]
    [InlineData("99999999999999999")]     // past year 9999: DateTimeOffset cannot hold it
    [InlineData("253402300800000")]       // the first millisecond past 9999-12-31
    [InlineData("99999999999999999999")] // past a long
    [InlineData("-5")]
    [InlineData("12ab")]
    public void A_request_with_a_corrupt_time_is_skipped_and_reported_and_the_others_still_count(string ms)
    {
        var registry = new KsmRequests(Path.Combine(_dir, "state"));
        var good = new KsmRequest(VmId.Parse("00000000-0000-4000-8000-000000000000"), false, new DateTimeOffset(2025,
            3, 4, 5, 6, 7, TimeSpan.Zero));
        registry.Register(good);
        File.WriteAllText(Path.Combine(registry.Directory, Uuid), $"merge_across_nodes=1\nregistered_unix_ms={ms}\n");
        var warnings = new List<string>();
        registry.List(warnings.Add).Should().Equal(good);
        warnings.Should().ContainSingle().Which.Should().Be(
            $"{Path.Combine(registry.Directory, Uuid)}: not a KSM request (bad registered_unix_ms '{ms}') (expected: " +
                $"a file named by a VM UUID holding merge_across_nodes=0|1 and registered_unix_ms=N); ignored");
    }

    [Fact]
    public void The_last_representable_registration_time_is_accepted()
    {
        var registry = new KsmRequests(Path.Combine(_dir, "state"));
        Directory.CreateDirectory(registry.Directory);
        File.WriteAllText(Path.Combine(registry.Directory, Uuid),
            "merge_across_nodes=0\nregistered_unix_ms=253402300799999\n");
        registry.List().Single().Registered.Should().Be(DateTimeOffset.MaxValue.AddTicks(-9999));
    }

    private static void MakeFifo(string path)
    {
        Process.Start("mkfifo", path)!.WaitForExit();
        File.Exists(path).Should().BeTrue("mkfifo must have created the FIFO");
    }

    /// <summary>State-file reads must never block: run on a worker and FAIL (not hang) after 20 s.</summary>
    private static T WithoutHanging<T>(Func<T> read)
    {
        var task = Task.Run(read);
        task.Wait(TimeSpan.FromSeconds(20)).Should().BeTrue("a state file must never block the root helper");
        return task.Result;
    }

    [Fact]
    public void A_FIFO_or_symlink_in_place_of_a_request_is_skipped_without_hanging_and_the_others_still_count()
    {
        var registry = new KsmRequests(Path.Combine(_dir, "state"));
        var good = new KsmRequest(VmId.Parse("00000000-0000-4000-8000-000000000000"), false, new DateTimeOffset(2025,
            3, 4, 5, 6, 7, TimeSpan.Zero));
        registry.Register(good);
        var fifo = Path.Combine(registry.Directory, Uuid);
        MakeFifo(fifo);
        var target = Path.Combine(_dir, "elsewhere");
        File.WriteAllText(target, "merge_across_nodes=1\n");
        var link = Path.Combine(registry.Directory, "11111111-0000-4000-8000-000000000001");
        File.CreateSymbolicLink(link, target);
        var warnings = new List<string>();
        WithoutHanging(() => registry.List(warnings.Add)).Should().Equal(good);
        warnings.Should().HaveCount(2);
        warnings.Should().ContainSingle(w => w.StartsWith($"{fifo}: not a KSM request (a FIFO, not a regular file)"));
        warnings.Should().ContainSingle(w => w.StartsWith($"{link}: not a KSM request (a symbolic link, not a " +
            $"regular file)"));
    }

    [Fact]
    public void A_FIFO_in_place_of_the_journal_reads_as_unreadable_without_hanging()
    {
        var state = Path.Combine(_dir, "state");
        Directory.CreateDirectory(state);
        MakeFifo(Path.Combine(state, KsmStateDirectory.JournalFileName));
        var journal = WithoutHanging(() => new KsmJournalFile(state).Read());
        journal.Should().NotBeNull();
        (journal!.Readable, journal.Text).Should().Be((false, "a FIFO, not a regular file"));
    }

    [Fact]
    public void The_lock_refuses_a_symlink_or_a_FIFO_and_never_creates_through_a_symlink()
    {
        var state = Path.Combine(_dir, "state");
        Directory.CreateDirectory(state);
        var lockPath = Path.Combine(state, KsmStateDirectory.LockFileName);
        var target = Path.Combine(_dir, "steered");
        File.CreateSymbolicLink(lockPath, target);
        FluentActions.Invoking(() => HostLock.Acquire(lockPath, TimeSpan.Zero)).Should().Throw<KsmException>()
            .WithMessage($"{lockPath}: cannot open the KSM lock: a symbolic link, not a regular file");
        File.Exists(target).Should().BeFalse("O_CREAT must not follow the symlink");
        HostLock.IsFree(lockPath).Should().BeTrue("nobody can hold a lock Acquire refuses");

        File.Delete(lockPath);
        MakeFifo(lockPath);
        WithoutHanging(() => FluentActions.Invoking(() => HostLock.Acquire(lockPath, TimeSpan.Zero))
            .Should().Throw<KsmException>()
            .WithMessage($"{lockPath}: cannot open the KSM lock: a FIFO, not a regular file"));
        WithoutHanging(() => HostLock.IsFree(lockPath).Should().BeTrue());

        var nowhere = Path.Combine(_dir, "no-such-dir", KsmStateDirectory.LockFileName);
        FluentActions.Invoking(() => HostLock.Acquire(nowhere, TimeSpan.Zero)).Should().Throw<KsmException>()
            .WithMessage($"{nowhere}: cannot open the KSM lock: No such file or directory");
    }

    [Fact]
    public void A_request_without_a_time_is_dated_by_its_file()
    {
        var registry = new KsmRequests(Path.Combine(_dir, "state"));
        Directory.CreateDirectory(registry.Directory);
        var path = Path.Combine(registry.Directory, Uuid);
        File.WriteAllText(path, "merge_across_nodes=1\n");
        File.SetLastWriteTimeUtc(path, new DateTime(2024, 1, 1, 0, 0, 0, DateTimeKind.Utc));
        registry.List().Single().Registered.Should().Be(new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero));
    }

    [Fact]
    public void The_journal_round_trips_and_reports_garbage_as_unreadable()
    {
        var journal = new KsmJournalFile(Path.Combine(_dir, "state"));
        journal.Read().Should().BeNull();
        journal.Write(KsmRun.Merge, false, DateTimeOffset.UnixEpoch);
        journal.Read().Should()
            .Match<KsmJournal>(j => j.PreviousRun == KsmRun.Merge && j.Target == false && j.Readable);
        File.WriteAllText(journal.Path, "previous_run=2\n");
        journal.Read()!.Readable.Should().BeFalse("run=2 is never a value to restore");
        journal.Delete();
        journal.Read().Should().BeNull();
    }

    [Fact]
    public void A_state_file_write_on_a_full_disk_fails_naming_it_and_leaves_the_old_entry_and_no_temp_file()
    {
        if (Support.Native.Sh("id -u").Trim() != "0")
            throw new Xunit.Sdk.XunitException("this test mounts a tmpfs and needs root; run `make test` as root");
        using var tmpfs = new Support.SmallTmpfs(_dir, "64k");
        var registry = new KsmRequests(tmpfs.Path);
        var journal = new KsmJournalFile(tmpfs.Path);
        var vm = VmId.Parse(Uuid);
        var t = new DateTimeOffset(2025, 3, 4, 5, 6, 7, 890, TimeSpan.Zero);
        registry.Register(new KsmRequest(vm, true, t));
        var entry = File.ReadAllText(registry.PathOf(vm));
        tmpfs.Fill(0);

        FluentActions.Invoking(() => registry.Register(new KsmRequest(vm, false, t.AddSeconds(1))))
            .Should().Throw<KsmException>()
            .WithMessage($"{registry.PathOf(vm)}: cannot write: *No space left on device*");
        FluentActions.Invoking(() => journal.Write(KsmRun.Merge, false, t)).Should().Throw<KsmException>()
            .WithMessage($"{journal.Path}: cannot write: *No space left on device*");

        File.ReadAllText(registry.PathOf(vm)).Should().Be(entry, "a failed write leaves the entry it would replace");
        Directory.GetFileSystemEntries(registry.Directory).Should().Equal([registry.PathOf(vm)], "no temp file left");
        Directory.GetFileSystemEntries(tmpfs.Path).Select(Path.GetFileName)
            .Should().BeEquivalentTo([KsmStateDirectory.RequestsDirectoryName, "filler"]);
        journal.Read().Should().BeNull();
    }

    [Fact]
    public void The_host_lock_excludes_and_times_out_with_the_key_named()
    {
        var path = Path.Combine(_dir, "ksm.lock");
        using (var held = HostLock.Acquire(path, TimeSpan.Zero))
        {
            HostLock.IsFree(path).Should().BeFalse();
            var clock = Stopwatch.StartNew();
            FluentActions.Invoking(() => HostLock.Acquire(path, TimeSpan.FromMilliseconds(300)))
                .Should().Throw<KsmException>()
                .WithMessage("*held the lock for more than 300 ms (Ksm:LockTimeoutSeconds)*");
            clock.Elapsed.Should().BeGreaterThanOrEqualTo(TimeSpan.FromMilliseconds(290), "the wait is bounded, not " +
                "skipped");
        }
        LockProbe.FreesSoon(path).Should().BeTrue();
        using var again = HostLock.Acquire(path, TimeSpan.Zero);
    }

    [Fact]
    public async Task The_host_lock_is_taken_as_soon_as_it_is_released()
    {
        var path = Path.Combine(_dir, "ksm.lock");
        var held = HostLock.Acquire(path, TimeSpan.Zero);
        // Exclusion without a fixed sleep: a bounded attempt while it is held must give up, naming the lock.
        FluentActions.Invoking(() => HostLock.Acquire(path, TimeSpan.FromMilliseconds(200)))
            .Should().Throw<KsmException>()
            .WithMessage("*another KSM transition held the lock*");
        var waiter = Task.Run(() => { using var l = HostLock.Acquire(path, TimeSpan.FromSeconds(20)); return true; });
        HostLock.IsFree(path).Should().BeFalse();
        held.Dispose();
        (await waiter.WaitAsync(TimeSpan.FromSeconds(10)))
            .Should().BeTrue("the waiter takes the lock once it is released");
    }

    /// <summary>Waits (up to 20 s) until a child writer for <paramref name="target"/> exists.</summary>
    private static bool WriterStarted(string target) => Poll.Until(() =>
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline"));
                if (cmdline.Contains("largeguest-ksm-writer") && cmdline.Contains(target)) return true;
            }
            catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
        return false;
    }, TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(10));

    /// <summary>A FIFO with no reader stands in for a long synchronous sysfs write: the child writer blocks in
    /// write(2).</summary>
    private string Fifo()
    {
        var fifo = Path.Combine(_dir, "fifo");
        Process.Start("mkfifo", fifo)!.WaitForExit();
        File.Exists(fifo).Should().BeTrue("mkfifo must have created the FIFO");
        return fifo;
    }

    [Fact]
    public void The_child_writer_is_killed_at_its_budget()
    {
        var fifo = Fifo();
        var clock = Stopwatch.StartNew();
        var result = ChildWriter.Write(fifo, "2", TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(10), held: null);
        result.Status.Should().Be(UnmergeStatus.TimedOut);
        clock.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(5));
        result.Elapsed.Should().BeGreaterThanOrEqualTo(TimeSpan.FromMilliseconds(190));
    }

    [Fact]
    public void The_child_writer_reports_success_and_failure()
    {
        var target = Path.Combine(_dir, "value");
        ChildWriter.Write(target, "2", TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(10), null).Status
            .Should().Be(UnmergeStatus.Completed);
        File.ReadAllText(target).Should().Be("2");
        var failed = ChildWriter.Write(Path.Combine(_dir, "no", "such", "dir"), "2", TimeSpan.FromSeconds(10),
            TimeSpan.FromSeconds(10), null);
        failed.Status.Should().Be(UnmergeStatus.Failed);
        failed.Detail.Should().Contain("nonexistent");
    }

    [Fact]
    public async Task The_host_lock_stays_held_while_a_child_writer_outlives_its_holder()
    {
        var fifo = Fifo();
        var path = Path.Combine(_dir, "ksm.lock");
        var holder = HostLock.Acquire(path, TimeSpan.Zero);
        var writer = Task.Factory.StartNew(() => ChildWriter.Write(fifo, "2", TimeSpan.FromSeconds(30),
            TimeSpan.FromSeconds(10), holder),
            TaskCreationOptions.LongRunning);
        WriterStarted(fifo).Should().BeTrue("the child writer must be running (blocked on the FIFO) before the " +
            "holder lets go");
        holder.Dispose();                  // this process lets go of its descriptor ...
        HostLock.IsFree(path).Should().BeFalse("... but the child inherited it and keeps the host locked");
        using (var reader = new FileStream(fifo, FileMode.Open,
            FileAccess.Read)) reader.ReadByte(); // let the write finish
        (await writer.WaitAsync(TimeSpan.FromSeconds(20))).Status.Should().Be(UnmergeStatus.Completed);
        LockProbe.FreesSoon(path).Should().BeTrue("the child is gone, and with it the last descriptor");
    }
}

/// <summary>Liveness through the product's libvirt binding, against libvirt's built-in test:///default
/// driver.</summary>
public sealed class LibvirtLivenessTests
{
    // the driver's domain "test"
    private static readonly VmId Known = VmId.Parse("6695eb01-f6a4-8304-79aa-97f2502e193f");
    private static readonly VmId Gone = VmId.Parse("00000000-dead-4000-8000-000000000000");

    [Fact]
    public void Known_domains_are_present_unknown_ones_absent()
    {
        var answers = new LibvirtLiveness("test:///default").Lookup([Known, Gone]);
        answers.Should().Equal(new Dictionary<VmId, VmPresence> { [Known] = VmPresence.Present,
            [Gone] = VmPresence.Absent });
    }

    [Fact]
    public void Unreachable_libvirt_makes_every_VM_unknown_so_nothing_is_stale()
    {
        var answers = new LibvirtLiveness("qemu+unix:///system?socket=/nonexistent/libvirt-sock").Lookup([Known, Gone]);
        answers.Values.Should().AllBeEquivalentTo(VmPresence.Unknown);
    }

    [Fact]
    public void A_request_of_a_domain_libvirt_does_not_know_goes_stale_after_the_grace_period()
    {
        var now = DateTimeOffset.UtcNow;
        var requests = new[] { new KsmRequest(Gone, false, now.AddMinutes(-10)), new KsmRequest(Known, true,
            now.AddMinutes(-10)) };
        var policy = new KsmPolicy(10, null, TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        var needed = KsmPlanner.LivenessNeeded(requests, now, policy);
        var desire = KsmPlanner.Desire(requests, new LibvirtLiveness("test:///default").Lookup(needed), now, policy);
        (desire.Value, desire.Stale.Single().Vm).Should().Be((true, Gone));
    }
}
