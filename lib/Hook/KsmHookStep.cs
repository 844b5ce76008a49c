using Largeguest.Config;
using Largeguest.IO;
using Largeguest.Ksm;

namespace Largeguest.Hook;

/// <summary>
/// The hook's KSM work for <c>ksm_merge_across_nodes</c> (docs/design.md section 6): start-type hook points register
/// the VM's request and reconcile the host; <c>after_vm_destroy</c> only releases the request. A failure is
/// one warning line under <c>Ksm:OnFailure=warn</c> (the VM boots) or one error line under <c>fail</c>
/// (the caller exits 2 before it writes the domain XML). The domain XML is never KSM's business.
/// </summary>
public static class KsmHookStep
{
    /// <summary>Runs the step; false means "refuse the VM" (the error line is already printed).</summary>
    public static bool Run(HookPoint point, bool value, IReadOnlyDictionary<string, string> environment,
        LargeguestConfig config, Diagnostics diag,
        Func<KsmHelperCall, LargeguestConfig, IReadOnlyList<(bool Warning, string Text)>>? runner = null)
    {
        var release = point == HookPoint.AfterVmDestroy;
        try
        {
            var vm = VmId.Parse(environment.GetValueOrDefault(HookContract.VmIdVariable), HookContract.VmIdVariable);
            var call = new KsmHelperCall(vm, release ? null : value);
            Print((runner ?? KsmService.Run)(call, config), diag);
            return true;
        }
        catch (KsmException e)
        {
            Print(e.Earlier, diag);
            var message = $"{LargeguestPropertiesName}: {e.Message}";
            if (release) { diag.Warn($"{message}; the request stays until it is stale"); return true; }
            var (goesOn, stops) = point switch
            {
                HookPoint.BeforeVmMigrateDestination => ("the migration goes on", "the migration is refused"),
                HookPoint.BeforeVmDehibernate => ("the VM is restored anyway", "the VM is not restored"),
                _ => ("the VM starts anyway", "the VM is not started"),
            };
            if (config.KsmOnFailure == FailurePolicy.Warn)
            {
                diag.Warn($"{message}; {goesOn} (Ksm:OnFailure=warn)"); return true;
            }
            diag.Error($"{message}; {stops} (Ksm:OnFailure=fail)");
            return false;
        }
    }

    private const string LargeguestPropertiesName = Grammar.LargeguestProperties.KsmMergeAcrossNodesName;

    private static void Print(IReadOnlyList<(bool Warning, string Text)> lines, Diagnostics diag)
    {
        foreach (var (warning, text) in lines)
            if (warning) diag.Warn(text); else diag.Note(text);
    }
}
