"""A process in a container: the supervisors, their client side, exec, attach, logs, cgroups."""
