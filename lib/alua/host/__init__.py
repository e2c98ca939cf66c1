"""Host I/O: the command runner, the action context, kernel trees, /proc, state files, the cluster."""
