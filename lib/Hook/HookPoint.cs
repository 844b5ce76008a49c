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

    public static string DirectoryName(this HookPoint point) => Table.First(t => t.Point == point).Dir;

    /// <summary>The hook point named by the directory VDSM ran us from (argv[0]), or null.</summary>
    public static HookPoint? FromInvocation(string argv0)
    {
        var dir = Path.GetFileName(Path.GetDirectoryName(argv0) ?? "");
        foreach (var (name, point) in Table)
            if (name == dir) return point;
        return null;
    }
}
