"""The dockerweb engine: plain Python, no Django. One concept per module, grouped by subpackage:

- vocabulary (this package): errors, state (the state machine), ids, spec (ContainerSpec),
  layout (paths under the state root), signals, logconfig (log rotation options); facade
  (Engine, what the Django side calls)
- run/ (a process in a container): supervisor (the per-container process) and exec_supervisor
  (per exec), frames (their attach framing), supervision (their client side: launch, state,
  signals), exec, client (the attach socket client), logfile (the JSON-lines logs), procs,
  cgroups, stats, lxcconf (+ templates/, hooks/), command, users
- confine/ (confinement): capabilities, seccomp, initconfine (+ initconfine.c)
- fs/ (filesystem trees and tars): rootfs, inroot, beneath, archive, tarcreate, tarlimits,
  compression, changes, trash
- image/ (images): store, config, save, load, layers, tarsplit, busybox, reference, registry,
  registry_auth, distribution
- net/ (network): ipam, bridge, netconf, portmap
"""
