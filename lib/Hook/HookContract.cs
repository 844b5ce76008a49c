using Largeguest.Config;
using Largeguest.Domain;
using Largeguest.Grammar;
using Largeguest.Host;
using Largeguest.IO;
using Largeguest.Ksm;

namespace Largeguest.Hook;

/// <summary>
/// What VDSM's hook protocol fixes (docs/design.md section 3), defined once for the hook, its KSM step and the
/// command line, in the spirit of VDSM's own <c>hooking</c> module: the variables VDSM sets, the exit codes, how
/// the domain XML is read and written back, and the one-line message for any failure.
/// </summary>
public static class HookContract
{
    public const int Success = 0;
    public const int Failure = 2;
    /// <summary>A failure at <c>after_vm_destroy</c> (<see cref="HookPoints.FailureExitCode"/>).</summary>
    public const int CleanupFailure = 1;
    public const string DomXmlVariable = "_hook_domxml";
    public const string VmIdVariable = "vmId";

    /// <summary>
    /// A domain XML file's bytes: a regular file within the parser's limit, checked before reading (an oversized
    /// file must not cost its size in memory just to be refused; a FIFO or device must not hang the caller).
    /// Errors read <c>LABEL: cannot read 'PATH': why</c>.
    /// </summary>
    public static byte[] ReadDomain(string path, string label)
    {
        try
        {
            return RegularFile.Read(path, DomainDocument.MaxChars,
                size => $"{size} bytes, more than the {DomainDocument.MaxChars >> 20} MiB a domain XML may have");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new HookException($"{label}: cannot read '{path}': {e.Message}"); }
    }

    /// <summary>
    /// Replaces a domain XML file atomically (the old or the new document after a kill at any instant). Durable
    /// (fsync) for an admin's file; not for VDSM's, which VDSM made a moment earlier, reads back as soon as the
    /// hook exits and deletes (docs/design.md section 3).
    /// </summary>
    public static void WriteDomain(string path, ReadOnlySpan<byte> xml, bool durable, string label)
    {
        try { AtomicFile.Replace(path, xml, durable); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new HookException($"{label}: cannot replace '{path}': {e.Message}; the file is unchanged"); }
    }

    /// <summary>The one-line message for any failure: ours name what is wrong; anything else is a bug, said as
    /// such.</summary>
    public static string Describe(Exception e) => e switch
    {
        PropertyException p => p.OneLine,
        DomainXmlException or ConfigException or HookException or TopologyException or KsmException => e.Message,
        _ => $"internal error: {e.GetType().Name}: {e.Message}",
    };
}
