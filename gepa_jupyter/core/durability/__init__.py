"""Runs that outlive their process: the recipe, the checkpoint, liveness, salvage, one resumer, a watched run."""
