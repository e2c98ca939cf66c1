"""One module per tool or kernel interface: parsers and thin wrappers, no agent logic."""
