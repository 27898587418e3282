"""The pathology inference worker: finds a slide, runs CLAM on it, and talks
to the platform only through the pathology HTTP API. Imports nothing from
Django."""
