namespace Largeguest.Hook;

/// <summary>The VDSM hook points the product is installed in; the name is the hook directory's.</summary>
public enum HookPoint { BeforeVmStart, BeforeVmMigrateDestination, BeforeVmDehibernate, AfterVmDestroy }

public static class HookPoints
{
    private static readonly (string Dir, HookPoint Point)[] Table =
    [
        ("before_vm_start", HookPoint.BeforeVmStart),
        ("before_vm_migrate_destination", HookPoint.BeforeVmMigrateDestination),
        ("before_vm_dehibernate", HookPoint.BeforeVmDehibernate),
        ("after_vm_destroy", HookPoint.AfterVmDestroy),
    ];

    public static IEnumerable<string> DirectoryNames => Table.Select(t => t.Dir);

    public static string DirectoryName(this HookPoint point)
    {
        foreach (var (dir, p) in Table)
            if (p == point) return dir;
        throw new ArgumentOutOfRangeException(nameof(point));
    }

    /// <summary>
    /// Does VDSM use the XML the hook writes here? Only at a fresh start: at a migration destination the domain
    /// comes from the source host, at dehibernation from the saved image, and VDSM discards the hook's output
    /// (docs/vdsm-and-mom.md).
    /// </summary>
    public static bool UsesHookXml(this HookPoint point) => point == HookPoint.BeforeVmStart;

    /// <summary>
    /// The exit code of a failure: 2 (VDSM aborts the operation and skips later hooks), except at
    /// <c>after_vm_destroy</c>, where VDSM ignores failures but exit 2 would skip other products' cleanup hooks.
    /// </summary>
    public static int FailureExitCode(this HookPoint? point) =>
        point == HookPoint.AfterVmDestroy ? HookContract.CleanupFailure : HookContract.Failure;

    /// <summary>The hook point named by the directory VDSM ran us from (argv[0]), or null.</summary>
    public static HookPoint? FromInvocation(string argv0)
    {
        var dir = Path.GetFileName(Path.GetDirectoryName(argv0) ?? "");
        foreach (var (name, point) in Table)
            if (name == dir) return point;
        return null;
    }
}
