"""The technician's viewer: display, input, headless automation, recording."""
