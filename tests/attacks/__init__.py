"""Attack regression tests: tries to make jura_trust say "valid" when it should not."""
