"""Administrative hierarchy and boundaries, point → grid lookup, coordinate systems.

Modules (one job each):
- crs: WGS-84 / GCJ-02 / BD-09 conversion
- geometry: metrics (equal-area km², centroid, bbox) and compact GeoJSON text
- boundary_read: decode and parse a boundary file into candidate records
- boundary_checks: validate records against each other and the database
- boundaries: all-or-nothing import, export
- meta: the boundary version counter that invalidates cached locators
- locate: point → grid (STRtree), cached per engine
- hierarchy: scoped reads of the region tree (breadcrumb, children, picker tree)
- demo_boundaries, partition, demo_names, demo_city: the demo city generator
- cli: manage.py sub-commands
- layers, basemap: pydeck layer builders and the offline basemap style
"""
