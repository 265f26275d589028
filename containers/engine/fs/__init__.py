"""Filesystem trees and tars: rootfs mounts, in-root path resolution, archives, changes."""
