"""Container networking on the host: addresses, the bridge, in-container config, port maps."""
