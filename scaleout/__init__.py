"""The scale-out topology on real parts, started on one machine by one command (docs/scale-out.md):

    python -m scaleout up [--servers 2] [--ingesters 2]     # prints the URL; Ctrl+C (or `down`) stops it
    python -m scaleout down

- nginx in front of several Streamlit servers, sticky by a routing cookie (websockets proxied);
- a PostgreSQL streaming replica (pg_basebackup -R from the primary) that the dashboards read from;
- several MQTT ingesters sharing one subscription ($share/<group>/<topic>).

Everything lives in a run directory (default data/scaleout/): generated configuration, the replica's
data, logs and state.json. The supervisor (`up`) restarts a part that dies — for an ingester that is
what brings its share of the stream back (see sensors/mqtt_ingest.py). A top-floor tool like bench/.
"""
