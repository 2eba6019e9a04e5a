"""The web UI: a static page and the SVG plot renderer."""
