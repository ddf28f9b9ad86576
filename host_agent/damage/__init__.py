"""Finding what changed on the screen: the detect and rectangles stages of the pipeline."""
