"""Administrative hierarchy and boundaries, point → grid lookup, coordinate systems.

Modules (one job each):
- crs: WGS-84 / GCJ-02 / BD-09 conversion, and any EPSG system (projected CGCS2000 Gauss-Krüger …)
  through pyproj, for files
- geometry: metrics (equal-area km², centroid, bbox) and compact GeoJSON text
- boundary_read: read any boundary/grid/base-layer file through GDAL (GeoJSON, Shapefile/zip,
  GeoPackage, KML/KMZ), encodings, field mapping
- boundary_repair: honest geometry repair with a report (make_valid, duplicate vertices, slivers)
- boundary_checks: validate features on their own and against each other and the database
- boundaries: all-or-nothing import (provinces included), export
- cities: onboarding a city (province, boundary files, its settings row), per-city settings
- basemap, tile_routes: the city's own base layers as offline vector tiles served at /tiles/
- meta: the boundary version counter that invalidates cached locators
- locate: point → grid (STRtree), cached per engine
- views: the read face of the region tree (RegionViews: region, children, breadcrumb, picker tree)
- addresses, address_cli: the standard address base (标准地址库) import, `manage.py import-addresses`/`geocode`
- address_text, geocode: Chinese address folding, and free text → standard address + grid + confidence
- demo_boundaries, partition, demo_names, demo_city, demo_addresses: the demo city generator
- cli: manage.py sub-commands
- layers: the generic pydeck builders (region choropleth, outlines, heat bins, view, compact deck JSON)
  and the offline basemap style; each domain builds its own object layers on them
"""
