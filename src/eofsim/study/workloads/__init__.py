"""The study's workload scripts, each run as a program in the mounted model (not imported)."""
