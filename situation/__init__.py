"""Read models for the situation screens (态势总览 and the wall): what goes on the map and in the
urgent lists for one scope and period. Cross-domain, read-only, every query scoped by the Viewer."""
