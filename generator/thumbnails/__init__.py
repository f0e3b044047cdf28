"""Thumbnails: a plane read with zarr-python within a budget, rendered to WebP renditions."""
