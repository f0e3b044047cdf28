"""Sources: the submission CSVs, read recursively, as Entry records and row errors."""
