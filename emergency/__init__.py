"""Emergency domain: resources, incidents, nearest-available search, dispatch plans, coverage."""
