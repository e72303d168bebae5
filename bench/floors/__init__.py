"""Reference floors: the fastest pass-throughs this stack allows (see bench/README.md)."""
