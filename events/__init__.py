"""Grid events: the 数字城管 case lifecycle, deadlines, routing, intake, imports and scoped reads.

Modules (one job each):
- catalog (+ categories.yaml): 事件/部件 → 大类 → 小类
- deadlines: [workday] working-time arithmetic and [sla.*] stage limits
- workflow: the transition TABLE and `transition` / `allowed_actions`
- rollup: the daily counters kept on every write, and their recount
- routing (+ routing.yaml) and departments: who handles a case
- intake, photos: creating a case (form, sensors) and its photos
- importer, cli: CSV/Excel import (`manage.py import-events`)
- queries: scoped, masked reads for the pages
- demo, demo_text: the generated demo year
"""
