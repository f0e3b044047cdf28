"""ngff-catalog: a static-site generator for a federated catalog of OME-Zarr datasets.

The pipeline, one module per stage::

    sources -> harvest -> validate -> thumbnails -> site
"""

__version__ = "0.1.0"
