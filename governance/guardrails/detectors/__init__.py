"""One detector per check; the engine holds one instance of each."""
