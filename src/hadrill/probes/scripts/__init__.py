"""Scripts that probes copy to a node of the platform and run there (stand-alone, standard library only)."""
