"""Layer 4: the `%%optimize_prompt` magic and the ipywidgets panel, thin faces of one run object."""
