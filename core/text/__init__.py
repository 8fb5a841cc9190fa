"""Text helpers shared by the checks: normalisation and fingerprints."""
