"""Confinement of a container's init: capabilities, seccomp, the init preload."""
