namespace Largeguest.Ksm;

/// <summary>
/// The KSM policy could not be applied. The message is one line saying what was not done and why;
/// the host is never left in unmerge mode or half-way through a transition when this is thrown.
/// </summary>
public class KsmException(string message) : Exception(message)
{
    /// <summary>Notes and warnings of work done before the failure (printed before its error line).</summary>
    public IReadOnlyList<(bool Warning, string Text)> Earlier { get; init; } = [];
}

/// <summary>A value outside what a KSM file accepts, refused before it reaches the kernel.</summary>
public sealed class KsmValueException(string file, string value, string expected)
    : KsmException($"{file}: bad value '{value}' (expected: {expected})")
{
    public string File { get; } = file;
}

/// <summary>The kernel refused a write; <see cref="Errno"/> tells EBUSY (pages still shared) from the rest.</summary>
public sealed class KsmWriteException(string path, string value, int errno)
    : KsmException($"writing {value} to {path} failed: {Native.Describe(errno)}")
{
    public string Path { get; } = path;
    public int Errno { get; } = errno;
    public bool Busy => Errno == Native.EBUSY;
}
