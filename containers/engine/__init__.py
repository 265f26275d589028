"""The dockerweb engine: plain Python, no Django. One concept per module:

- vocabulary: errors, state (the state machine), ids, spec (ContainerSpec), layout (paths
  under the state root), signals; runtime (the Engine facade the Django side calls)
- a process in a container: supervisor (the per-container process) and exec_supervisor
  (per exec), supervision (their client side: launch, state, signals), frames (the attach
  framing they share with every client), exec, attach (the attach socket client), logs,
  procs, cgroups, stats, lxcconf, command, users
- confinement: capabilities, seccomp, initconfine (+ initconfine.c)
- filesystem trees and tars: rootfs, inroot, beneath, archive, tarcreate, tarlimits,
  compression, changes
- images: images (the store), imageconfig, imagesave, imageload, layerstore, tarsplit,
  busybox, reference, registry, registry_auth, distribution
- network: ipam, bridge, netconf, portmap
"""
