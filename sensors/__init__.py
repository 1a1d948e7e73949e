"""Environmental and IoT sensing: registry, ingestion (CSV/Excel, MQTT), assessment against the
standards, alert rules that open cases, demo data, and the read face and map layer of the screens.

Modules: metrics (catalogue), registry (definitions, import), readings (checks), payload (MQTT JSON),
writer (idempotent store + hourly/latest), daily (daily and area figures), ingest (one batch),
readings_import (CSV/Excel batches), mqtt_ingest (live), freshness (离线), assessment (pure standards
logic), alerts (+ alert_rules.yaml), views (SensorViews: every read the screens make, scoped to the
viewer), status (a station's colour, level text and tooltip), layers (the stations' map layer), demo,
bench_ingest, cli.
"""
