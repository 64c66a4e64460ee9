"""What every renderer speaks: sources, jobs, results, the timeline of frames."""
