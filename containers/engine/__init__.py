"""The dockerweb engine: plain Python, no Django. One concept per module, grouped by subpackage:

- vocabulary (this package): errors, state (the state machine), ids, spec (ContainerSpec),
  layout (paths under the state root), signals, logconfig (log drivers and rotation options),
  restart (restart policies and their back-off); facade (Engine, what the Django side calls);
  cbuild (our C sources built with the host's gcc)
- run/ (a process in a container): supervisor.c (the per-container and per-exec process,
  built by supervision.program), frames (its attach framing), supervision (its client side:
  spec, launch, state, signals), exec, client (the attach socket client), logfile (the
  JSON-lines logs), procs, cgroups, stats, lxcconf (+ templates/), command, users
- confine/ (confinement): capabilities, seccomp, initconfine (+ initconfine.c)
- fs/ (filesystem trees and tars): rootfs, inroot, beneath, archive, tarcreate, tarlimits, chunkfile,
  compression, changes, trash, mounts (bind mounts and volumes as LXC mount entries), volumes
  (the local volume store), runroot (the runtime directory's tmpfs), initlayer (the /etc mount
  points' shared layer), spares (removed containers' directories kept for the next ones)
- image/ (images): store, config, save, load, layers, tarsplit, busybox, reference, registry,
  registry_auth, distribution, dockerfile_changes; dockerfile, dockerignore, buildcontext (docker
  build)
- net/ (network): ipam, bridge, netconf, portmap, veth, dnsmsg
"""
