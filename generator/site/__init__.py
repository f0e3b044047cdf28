"""Site: the static catalog written from a gathered Catalog.

``write_site`` (pages.py) reads the assets once (assets.py), builds each
page's typed context with pure functions (views.py, dataset_view.py,
report.py, cards.py) and renders the templates; exports.py and
the machine-readable files; search_shards.py (with search_rows.py, from the
definitions in search_index.py) the sharded search index the page reads.

Output (all links relative, so the site works under any sub-path)::

    index.html            first page of cards pre-rendered, JS takes over
    search/               the sharded search index assets/shards.js reads a query at a time
    datasets/<id>/index.html
    report.html, report.json
    about.html
    catalog.json, catalog.csv (catalog.json's parts: catalog-N.json[.gz], past 40 MiB)
    sitemap.xml (a sitemap index past 50,000 pages)
    assets/               copied from the package
"""
