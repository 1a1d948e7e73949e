"""Supervision (督办), automatic escalation, 研判 (hotspots and surges) and the rules of the 考核.

A domain beside events, sensors and emergency: it reads and annotates cases (store.models.Event) but
never moves them along the workflow (events.workflow does). Its rules are data (escalation.yaml,
assessment.yaml), its writes go through actions.py, its reads through views.py (SupervisionViews), its
map layer is layers.py, and its periodic jobs are `manage.py supervision escalate|hotspots` (cli.py).
"""
