"""Provider adapters: the only package that imports a cloud SDK (see `registry`)."""
