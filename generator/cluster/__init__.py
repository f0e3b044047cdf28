"""Scale-out on Dask distributed: harvest and thumbnails in batches on a cluster's workers.

``batches`` holds the pure parts (what a batch carries there and back, the
split into batches, the per-worker share of the request limits),
``worker`` the function a worker runs, ``driver`` the submitting, retrying
and merging that the build calls in place of its own harvest and
thumbnail stages.
"""
