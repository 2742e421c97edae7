"""Framework-free parts shared by both backends: config checks, the run directory, metrics files, image grids and the command line."""
