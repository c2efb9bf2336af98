"""One run's lifecycle in the process: the run thread, output capture, redaction, upstream guards, preloading."""
