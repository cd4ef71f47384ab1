"""Training tools: data readers, configuration, loop, checkpoints, metrics, export, plots."""
