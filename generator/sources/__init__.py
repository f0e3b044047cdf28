"""Sources: the submission CSVs, read recursively, as Entry records and row errors.

``read.py`` walks the CSVs (through the fetch boundary), ``urls.py`` holds the
pure URL rules, ``columns.py`` turns a row's columns into the facts a listing states.
"""
