"""What a run learned, for the views: per-example results, every proposal, the scores table, short text."""
