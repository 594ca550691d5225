"""One module per finding family, each exporting RULES."""
