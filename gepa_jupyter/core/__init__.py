"""Layer 1: the streaming optimizer and the run object. No IPython or widget imports here.

Rooms: inputs, optimization, evaluation, insight, tracking, durability, runtime. At the top, what every room
shares: errors, events, the run options (options.py) and the private upstream APIs (upstream.py).
"""
