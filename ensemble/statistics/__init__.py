"""Statistics of results: intervals, goodness of fit, and the tests of Monte Carlo against exact."""
