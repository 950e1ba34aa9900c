"""Batches of image files: which outputs to write (:mod:`.plan`), one image through the model
(:mod:`.item`), and running many of them with reader and writer threads (:mod:`.run`)."""
