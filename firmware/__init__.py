"""The branchwatch daemon: wiring, configuration and lifecycle; no protocol logic."""
