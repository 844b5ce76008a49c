namespace Largeguest.Hook.Cli;

/// <summary>The man-page part of <c>largeguest --help</c>: what the hook does when VDSM runs it.</summary>
internal static class HelpText
{
    public const string Overview = """
        largeguest - VDSM hook that pins vCPUs, binds guest memory and gives a guest a virtual NUMA topology.

        HOOK MODE (no arguments; how VDSM runs it from /usr/libexec/vdsm/hooks/<hook point>/50_largeguest)
          Reads the VM's custom properties from the environment and rewrites the domain XML named by
          _hook_domxml in place (atomically). The hook point is the name of the directory it was run from:
          before_vm_start, before_vm_migrate_destination, before_vm_dehibernate or after_vm_destroy.

        PROPERTIES
          cputune     VCPUS#CPUSET[,...][,emulator#CPUSET]  e.g. 0#0-3,^2,1-3#4-7,emulator#8
                      -> <cputune><vcpupin vcpu cpuset/>...<emulatorpin cpuset/>
          numatune    MODE#NODESET | MODE:NODESET | NODESET  e.g. interleave#0-1  (bare NODESET: NumaTune:DefaultMode)
                      MODE is strict, preferred, interleave or restrictive -> <numatune><memory mode nodeset/>
                      auto: numad places the guest (<vcpu placement='auto'>, needs numad on the host)
          guestnuma   VCPUS#MEMORY[#NODES][,...]  e.g. 0-7#10G,8-15#10G  (MEMORY in KiB or K/M/G/T, KiB/MiB/GiB/TiB)
                      -> <cpu><numa><cell id cpus memory unit='KiB'/>...  (#NODES: <numatune><memnode>)
          ksm_merge_across_nodes  0 | 1   host KSM policy; 0 wins over 1 across the host's VMs
          pincpu      CPUSET (retired pincpu hook)  -> <vcpu cpuset>
          numa        MODE:NODESET (retired numa hook) -> as numatune
          CPUSET is libvirt's syntax: N, N-M, ^N, comma-separated; exclusions apply after inclusions.

        HOST CHECKS
          Pinned CPUs must exist and be online, nodes must exist and have memory. A strict binding whose
          nodes cannot hold the guest follows NumaTune:StrictMemory: warn (default), prefer, or fail.

        KSM
          ksm_merge_across_nodes registers the VM's request under Ksm:StateDir and reconciles the host:
          when merge_across_nodes must change, merged pages are unmerged first (memory checked, journaled,
          time-bounded); run as vdsm, the hook does that through 'sudo -n largeguest ksm reconcile'.
          Failures follow Ksm:OnFailure: warn (the VM boots) or fail. See 'largeguest ksm --help'.
          When MoM manages KSM (Mom:ConfigPath lists KSM in its controllers), the host's value is also
          given to MoM as its named policy 02-largeguest (socket and policy-dir), so MoM agrees.
          The KSM tuning service (ksmtuned's job, package vdsm-hook-largeguest-ksmtune) is
          'largeguest ksm tune --daemon|--once', with 'ksm run|stop|prune|retune|metrics' (docs/ksmtune.md).

        EXIT STATUS
          0  success (warnings, if any, on stderr)    2  error: one line on stderr, the XML file is unchanged

        FILES
          /etc/vdsm-hook-largeguest/largeguest.json   configuration (keys: see docs/configuration.md)
          LARGEGUEST__Section__Key                    environment override of one key, e.g. LARGEGUEST__NumaTune__DefaultMode
          LARGEGUEST_CONFIG                           another configuration file (not honoured in privileged mode)
          /etc/vdsm/mom.conf                          MoM's configuration (Mom:ConfigPath): controllers, rpc-port, policy-dir
          /etc/vdsm/mom.d/02-largeguest.policy        the policy given to MoM while VMs ask merge_across_nodes
        """;
}
