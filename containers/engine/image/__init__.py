"""Images: the store, their config, save/load, layers, registries and distribution."""
