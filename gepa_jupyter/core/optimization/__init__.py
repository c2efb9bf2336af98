"""The optimizer itself: gepa driven through our adapter, its callback, the reflection proposer and sampling."""
