"""The exact master-equation solver: superoperators, the point and batched solvers, jump statistics, steady states."""
