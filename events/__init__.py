"""Grid events: the 数字城管 case lifecycle, deadlines, routing, intake, imports and scoped reads.

Modules (one job each):
- catalog (+ categories.yaml): 事件/部件 → 大类 → 小类
- deadlines: [workday] working-time arithmetic and [sla.*] stage limits
- statuses: the states' names and the groups screens count, filter and colour by
- workflow: the transition TABLE and `transition` / `allowed_actions`
- rollup: the daily counters kept on every write, and their recount
- status_cohort: where each day's reports stand now (cases per report day × district × current status)
- routing (+ routing.yaml) and departments: who handles a case
- intake, photos: creating a case (form, sensors) and its photos
- address_location, placement: a case reported by address (matched, or 待定位) and placing it on the map
- importer, cli: CSV/Excel import (`manage.py import-events`)
- views: the read face (EventViews) — every scoped, masked read the screens make
- actions: the writes screens trigger (report, one transition, a batch), one transaction each
- format, grids, layers: wording, grid geometry and map layers for the screens (no reads)
- demo, demo_text: the generated demo year
"""
