namespace Largeguest.Tests.Support;

/// <summary>The published AOT hook (out/largeguest), as `make test` publishes it before the suite runs.</summary>
public static class PublishedBinary
{
    public static string Path
    {
        get
        {
            var path = Environment.GetEnvironmentVariable("LARGEGUEST_BIN") ?? System.IO.Path.Combine(RepoRoot, "out",
                "largeguest");
            if (!File.Exists(path))
                throw new InvalidOperationException(
                    $"published hook not found at '{path}': run the suite through `make test` (it publishes " +
                        $"out/largeguest first) or set LARGEGUEST_BIN");
            return path;
        }
    }

    /// <summary>The repository root (the directory holding Hooks.sln).</summary>
    public static string RepoRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(System.IO.Path.Combine(dir.FullName, "Hooks.sln"))) return dir.FullName;
            throw new InvalidOperationException($"no Hooks.sln above {AppContext.BaseDirectory}");
        }
    }
}
