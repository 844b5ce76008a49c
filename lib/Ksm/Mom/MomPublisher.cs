using Largeguest.IO;
using System.Text;

namespace Largeguest.Ksm.Mom;

/// <summary>What one publication did: a note when our policy changed, a failure when MoM can revert the host.</summary>
public sealed record MomPublication(string? Note, string? Failure);

/// <summary>
/// Publishes the host's <c>merge_across_nodes</c> to MoM (docs/ksm.md, "MoM"): the named policy
/// <see cref="MomConfig.PolicyName"/> holding <c>(set ksmMergeAcrossNodes 0|1)</c>, set over MoM's RPC (the running
/// MoM) and written to its policy-dir (a MoM that starts later); with no value, both are removed and MoM goes back to
/// the engine's value (VDSM's <c>01-parameters</c>). Run by the privileged KSM code under the host lock.
/// </summary>
public static class MomPublisher
{
    /// <summary>
    /// The value to publish (pure): the desired value once the host holds it; otherwise none, so MoM never unmerges
    /// on our behalf what our own memory-checked transition refused or has not done.
    /// </summary>
    public static bool? Publishable(bool? desired, bool? current) => desired is bool d && current == d ? d : null;

    public static string PolicyText(bool value) =>
        "# Owned by vdsm-hook-largeguest: the host's merge_across_nodes as its VMs ask " +
        "(docs/ksm.md of that package).\n" +
        "# Rewritten and removed by it; removed at boot (tmpfiles.d). Do not edit.\n" +
        $"(set ksmMergeAcrossNodes {KsmFiles.Bit(value)})\n";

    public static MomPublication Publish(MomConfig mom, bool? value, TimeSpan? timeout = null)
    {
        var text = value is bool v ? PolicyText(v) : null;
        var what = value is bool b
            ? $"policy {MomConfig.PolicyName} (merge_across_nodes={KsmFiles.Bit(b)})"
            : $"the removal of policy {MomConfig.PolicyName}";
        string? fileProblem = null, rpcProblem = null;
        var fileChanged = false;
        if (mom.PolicyFile is not { } file) fileProblem = $"{mom.Path} has no policy-dir for a policy file";
        else
        {
            try { fileChanged = SyncFile(file, text); }
            catch (KsmException e) { fileProblem = e.Message; }
        }
        try
        {
            // Looking first is cheap (about 1 ms); setting makes MoM re-parse all its policies (about 7 ms here).
            var client = new MomClient(mom.Endpoint, timeout);
            if (client.GetNamedPolicies().GetValueOrDefault(MomConfig.PolicyName) != text
                && !client.SetNamedPolicy(MomConfig.PolicyName, text))
                rpcProblem = $"MoM at {mom.Endpoint} refused it (setNamedPolicy returned false: " +
                    $"the policies do not evaluate together; see MoM's log)";
        }
        catch (MomException e) { rpcProblem = e.Message; }

        if (fileProblem is null && rpcProblem is null)
            return new MomPublication(fileChanged ? Noted(mom, value, mom.PolicyFile!) : null, null);
        var consequence = (value, rpcProblem) switch
        {
            (bool, not null) => "MoM will revert merge_across_nodes to the engine's value on its next policy cycle" +
                                (fileProblem is null
                                    ? $"; the policy file {mom.PolicyFile} is written, so a MoM started later loads it"
                                    : ""),
            (bool, null) => "a restarted MoM will revert merge_across_nodes to the engine's value",
            (null, not null) =>
                $"the running MoM keeps enforcing the previous {MomConfig.PolicyName} until it restarts",
            (null, null) => $"a restarted MoM would load the previous {MomConfig.PolicyName} again",
        };
        var problems = string.Join("; ", new[] { fileProblem, rpcProblem }.OfType<string>());
        // Short enough for the 512-character line with the paths of a real host: the consequence must not be cut.
        return new MomPublication(null, $"MoM did not take {what}: {problems}; {consequence}");
    }

    private static string Noted(MomConfig mom, bool? value, string file) => value is bool v
        ? $"ksm: MoM now enforces merge_across_nodes={KsmFiles.Bit(v)} " +
            $"(policy {MomConfig.PolicyName} set at {mom.Endpoint} and written to {file})"
        : $"ksm: MoM is back to the engine's merge_across_nodes " +
            $"(policy {MomConfig.PolicyName} removed at {mom.Endpoint} and from {file})";

    /// <summary>Writes (atomically) or deletes the policy file; true when it changed.</summary>
    private static bool SyncFile(string file, string? text)
    {
        var dir = Path.GetDirectoryName(file)!;
        if (!Directory.Exists(dir)) throw new MomException($"{dir}: MoM's policy-dir does not exist");
        var existing = SmallFile.TryRead(file);
        if (text is null)
        {
            if (existing is null && !File.Exists(file)) return false;
            try { File.Delete(file); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            { throw new MomException($"{file}: cannot remove: {e.Message}"); }
            return true;
        }
        if (existing == text) return false;
        // temp file named .02-largeguest.policy.*: MoM skips dot files
        StateFile.Write(file, Encoding.UTF8.GetBytes(text));
        return true;
    }
}
