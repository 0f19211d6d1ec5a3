"""darkspin.ensemble.results."""
