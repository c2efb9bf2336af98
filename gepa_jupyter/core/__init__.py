"""Layer 1: the streaming optimizer and the run object. No IPython or widget imports here."""
