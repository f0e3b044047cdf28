"""Site: the static catalog written from a gathered Catalog."""
