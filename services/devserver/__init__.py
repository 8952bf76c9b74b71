"""Local development: run the whole suite on one machine (`make run`)."""
