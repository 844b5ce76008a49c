namespace Largeguest.Tests.Support;

/// <summary>
/// Where the real oVirt host components the tests run live (VDSM's hook runner, MoM; their README beside them):
/// <c>LARGEGUEST_THIRD_PARTY</c> when set, else <c>shared/third_party</c> beside the repository or beside one of its
/// parent folders, else <c>/work/shared/third_party</c>, where these machines keep it (a clone elsewhere, e.g. CI's,
/// still finds it). Tests that need it and do not find it fail saying where they looked.
/// </summary>
public static class ThirdParty
{
    public const string Variable = "LARGEGUEST_THIRD_PARTY";

    public static IReadOnlyList<string> Candidates { get; } = Find();

    /// <summary>The first candidate that exists (else the first one, for the message of the test that needs
    /// it).</summary>
    public static string Root => Candidates.FirstOrDefault(Directory.Exists) ?? Candidates[0];

    public static string Where => string.Join(", ", Candidates);

    private static List<string> Find()
    {
        var list = new List<string>();
        if (Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } set) list.Add(Path.GetFullPath(set));
        for (var dir = Directory.GetParent(PublishedBinary.RepoRoot); dir is not null; dir = dir.Parent)
            list.Add(Path.Combine(dir.FullName, "shared", "third_party"));
        list.Add("/work/shared/third_party");
        return [.. list.Distinct()];
    }
}
