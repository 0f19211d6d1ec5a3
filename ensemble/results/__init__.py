"""Result data: what the exact solver and the trajectories return, and the post-selection table."""
