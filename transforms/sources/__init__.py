"""Sources: adapters that fetch or generate data and land it, nothing else."""
