"""Harvest: each dataset's metadata, read over the fetcher into a frozen Dataset."""
