"""The OCF contract: exit codes, parameters, meta-data, environment, dispatch."""
