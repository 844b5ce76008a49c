using Largeguest.Grammar;

namespace Largeguest.Host;

/// <summary>
/// Whether the host can do <c>numatune=auto</c>. libvirt implements automatic placement by running the
/// numad executable at the path it was built with (<c>/usr/bin/numad</c> on EL9: <c>numad -w VCPUS:MEMORY</c>
/// asks for advice, no daemon needed); without it the domain fails to start with an obscure error. So
/// numad is "there" when that file exists and is executable (<c>Topology:NumadPath</c>).
/// </summary>
public static class Numad
{
    public const string Expected = "numad installed (EL9: dnf install numad), or an explicit MODE#NODESET";

    /// <summary>Null when numad is usable at <paramref name="path"/>; else the error for the <c>numatune</c>
    /// property.</summary>
    public static PropertyException? Check(string path)
    {
        string? problem = null;
        if (!File.Exists(path)) problem = $"{path} does not exist";
        else if ((File.GetUnixFileMode(path) & (UnixFileMode.UserExecute
            | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) == 0)
            problem = $"{path} is not executable";
        return problem is null ? null
            : new PropertyException(LargeguestProperties.Numatune, $"auto placement needs numad, but {problem} " +
                "(Topology:NumadPath)", Expected);
    }
}
