"""The consensus-critical core of jura_trust.

CONSENSUS-CRITICAL: everything in this package decides whether a KSI
signature is valid. A change here can invalidate signatures that were issued
and verified before. The modules are pure: no I/O, no clock, no global
state; values are frozen. Every change needs a test against the external
vectors (tests/vectors/) and a CHANGELOG entry that says so.

This is the low tier of the API: public and documented, but sharp. Most
users want the high-level functions in :mod:`jura_trust` instead.
"""
