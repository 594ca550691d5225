"""One module per protocol; each turns a Frame into Observations."""
