"""The dockerweb engine: plain Python, no Django.

Modules, one concept each: errors, state, ids, spec, layout, images, rootfs, inroot,
users, lxcconf, cgroups, procs, supervisor (the per-container process), supervision (its
client side), logs, attach, runtime (the facade the Django side calls).
"""
