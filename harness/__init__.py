"""renderbench harness: workloads, measurement, validation, and the pytest plugin."""
