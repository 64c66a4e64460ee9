"""Where work runs: executors by name, the dispatcher, and the processes' lifecycle."""
