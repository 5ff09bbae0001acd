"""Developer tools that run from a checkout and are never installed on the box."""
