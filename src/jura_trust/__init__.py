"""jura_trust: keyless (KSI-compatible) timestamp signatures and signed QR certificates."""

__version__ = "0.1.0.dev0"
