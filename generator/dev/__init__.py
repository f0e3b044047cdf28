"""Development aids: sample OME-Zarr writers, a local static server with Range support, the demo."""
