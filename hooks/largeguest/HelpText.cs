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
          VDSM uses the rewritten XML only at before_vm_start. At before_vm_migrate_destination and
          before_vm_dehibernate the domain comes from the source host or the saved image: the hook checks
          it against this host and reconciles KSM, rewrites nothing, and warns when the XML lacks what
          the properties ask (it takes effect at the next start). At after_vm_destroy it releases the
          VM's KSM request.

        PROPERTIES
          cputune     VCPUS#CPUSET[,...][,emulator#CPUSET][,iothreadN#CPUSET...]
                      e.g. 0#0-3,^2,1-3#4-7,emulator#8,iothread1#9
                      -> <cputune><vcpupin vcpu cpuset/>...<emulatorpin cpuset/><iothreadpin iothread cpuset/>...
                      entries are comma-separated (not '_' as in the engine's CPU pinning string);
                      N must be one of the domain's I/O threads (<iothreads>, <iothreadids>)
          numatune    MODE#NODESET | MODE:NODESET | NODESET  e.g. interleave#0-1  (bare NODESET: NumaTune:DefaultMode)
                      MODE is strict, preferred, interleave or restrictive -> <numatune><memory mode nodeset/>
                      auto: numad places the guest (<vcpu placement='auto'>, needs numad on the host)
          guestnuma   VCPUS#MEMORY[#NODES][,...]  e.g. 0-7#10G,8-15#10G  (MEMORY in KiB or K/M/G/T, KiB/MiB/GiB/TiB)
                      -> <cpu><numa><cell id cpus memory unit='KiB'/>...  (#NODES: <numatune><memnode>)
          ksm_merge_across_nodes  0 | 1   host KSM policy; 0 wins over 1 across the host's VMs
          pincpu      CPUSET (retired pincpu hook)  -> <vcpu cpuset>
          numa        MODE:NODESET (retired numa hook) -> as numatune
          CPUSET is libvirt's syntax: N, N-M, ^N, comma-separated; exclusions apply after inclusions.

        VDSM CPU MANAGEMENT (the engine's CPU Pinning Policy, <ovirt-vm:cpuPolicy> in the domain metadata)
          VDSM re-pins vCPUs after boot, so cputune/pincpu pins last only under "manual" or no policy.
          none: VDSM moves every vCPU back to the host's shared CPU pool; CpuTune:SharedPolicy decides:
                fail (default: refuse the start) or warn (write the pins, warn they will not last).
                Set CPU Pinning Policy "Manual" in the engine with a pinning string (largeguest suggest
                prints one) and pin the VM to its hosts.
          manual with manuallyPinedCPUs: vCPUs outside that list are treated as under none.
          dedicated, isolate-threads, siblings: refused; the engine owns the VM's CPUs.

        GUEST TOPOLOGY
          guestnuma cells that split a guest socket or core of <cpu><topology> follow GuestNuma:TopologyMismatch:
          warn (default) or fail. 'largeguest suggest --sockets S' gives cells of whole sockets; '--io-threads T'
          pins T I/O threads and the emulator to the CPUs the vCPUs leave free in each cell's node.

        HOST CHECKS
          Pinned CPUs must exist and be online, nodes must exist and have memory. A strict binding whose
          nodes cannot hold the guest follows NumaTune:StrictMemory: warn (default), prefer, or fail.

        KSM
          ksm_merge_across_nodes registers the VM's request under Ksm:StateDir and reconciles the host:
          when merge_across_nodes must change, merged pages are unmerged first (memory checked, journaled,
          bounded by 10 s + Ksm:UnmergeSecondsPerGiB per GiB, at most Ksm:UnmergeTimeoutSeconds);
          run as vdsm, the hook does that through 'sudo -n largeguest ksm reconcile'.
          Failures follow Ksm:OnFailure: warn (the VM boots) or fail. See 'largeguest ksm --help'.
          When MoM manages KSM (Mom:ConfigPath lists KSM in its controllers), the host's value is also
          given to MoM as its named policy 02-largeguest (socket and policy-dir), so MoM agrees.
          The KSM tuning service (ksmtuned's job, package vdsm-hook-largeguest-ksmtune) is
          'largeguest ksm tune --daemon|--once', with 'ksm run|stop|prune|retune|metrics' (docs/ksmtune.md).

        EXIT STATUS
          0  success (warnings, if any, on stderr)    2  error: one line on stderr, the XML file is unchanged
          1  error at after_vm_destroy (exit 2 there would make VDSM skip the other hooks of the directory)

        FILES
          /etc/vdsm-hook-largeguest/largeguest.json   configuration (keys: see docs/configuration.md)
          /etc/vdsm-hook-largeguest/largeguest.d/*.json  drop-ins read after it in name order, later wins
          LARGEGUEST__Section__Key                    environment override of one key,
                                                      e.g. LARGEGUEST__NumaTune__DefaultMode
          LARGEGUEST_CONFIG                           another configuration file NAME.json, with drop-ins NAME.d/
                                                      (not honoured in privileged mode)
          /etc/vdsm/mom.conf                          MoM's configuration (Mom:ConfigPath): controllers,
                                                      rpc-port, policy-dir
          /etc/vdsm/mom.d/02-largeguest.policy        the policy given to MoM while VMs ask merge_across_nodes
        """;
}
