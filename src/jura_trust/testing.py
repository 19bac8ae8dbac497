"""pytest plugin for jura_trust (fixtures land with the embedded backend)."""
