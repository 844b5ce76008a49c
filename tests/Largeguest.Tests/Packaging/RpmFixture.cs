using System.Diagnostics;

namespace Largeguest.Tests.Packaging;

/// <summary>
/// Builds the RPM once for the packaging tests, the way an administrator or CI does: <c>make rpm</c>
/// (which publishes the AOT binary when it is out of date and runs the real rpmbuild). The previous
/// package is removed first so that rpmbuild really runs.
/// </summary>
public sealed class RpmFixture
{
    public const string Name = "vdsm-hook-largeguest";

    public string Version { get; } = Repo.Version;
    public string Release { get; } = "1";
    public string RpmPath { get; }
    public TimeSpan BuildTime { get; }
    public long Size { get; }
    public ToolResult Build { get; }

    public RpmFixture()
    {
        RpmPath = Repo.PathOf($"out/{Name}-{Version}-{Release}.x86_64.rpm");
        File.Delete(RpmPath);
        var clock = Stopwatch.StartNew();
        Build = Make(["rpm"]);
        BuildTime = clock.Elapsed;
        Size = File.Exists(RpmPath) ? new FileInfo(RpmPath).Length : -1;
    }

    /// <summary>Runs make in the repository, without the variables dotnet test sets for itself.</summary>
    public static ToolResult Make(IEnumerable<string> args) =>
        Tool.Run(Tool.Require("make", "make"), args, environment: CleanEnvironment(), clearEnvironment: true,
            timeout: TimeSpan.FromMinutes(15));

    private static Dictionary<string, string> CleanEnvironment()
    {
        var env = new Dictionary<string, string>();
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
        {
            var key = (string)e.Key;
            if (key.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase) || key.StartsWith("VSTEST",
                StringComparison.OrdinalIgnoreCase)
                || key is "DOTNET_HOST_PATH" or "MAKEFLAGS" or "MAKELEVEL" or "MFLAGS") continue;
            env[key] = (string?)e.Value ?? "";
        }
        return env;
    }

    /// <summary>rpm's own view of a package file or of an installed package.</summary>
    public static string Query(params string[] args) => Tool.Check(Tool.Require("rpm", "rpm"), args).Stdout.TrimEnd();
}

[CollectionDefinition(Name)]
public sealed class RpmCollection : ICollectionFixture<RpmFixture>
{
    public const string Name = "rpm";
}
