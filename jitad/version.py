"""jitad's version, in a module of its own so that the backend can put it in
kernel hashes without importing the package."""

__version__ = "0.2.0.dev0"
