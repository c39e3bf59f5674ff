"""Load harness: an open arrival-rate driver over the whole HTTP surface (issue 8, "Load")."""
