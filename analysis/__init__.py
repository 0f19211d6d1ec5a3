"""darkspin.analysis: entanglement measures, statistics, spectra, figures and the command line."""
