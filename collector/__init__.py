"""The cloud side: verifies and ingests batches, matches CVEs, answers hunting queries."""
