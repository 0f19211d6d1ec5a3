"""Monte Carlo runs: the batches, their exact integer sums, distributions and the file format."""
