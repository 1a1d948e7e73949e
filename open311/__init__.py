"""The open intake API: Open311 GeoReport v2 beside the app (/open311/v2/), so cases can come from the
12345 hotline platform, mini-programs, patrol and camera platforms — by coordinates, by address alone
(the standard address base, geo.geocode) or by region code.

Modules (one job each):
- routes: the Starlette routes server.py mounts; key check, rate limit, audit, error answers
- intake: a request → a case through events.intake (prepare, create; deferred tokens)
- views: the read face (an events.views.EventViews for the key's viewer) behind GET requests
- services (+ services.yaml): 大类/小类 as services with permanent codes and attribute definitions
- parse: POST bodies (form, JSON, XML via defusedxml), capped and checked
- formats: JSON and XML documents and the spec's error answer
- keys: client systems' API keys (hashed, shown once, revocable); ratelimit: calls per minute
- policy: the [open311] settings; cli: `manage.py api-key …`, `manage.py open311 process-pending`;
  actions: the admin page's writes
- openapi.yaml: the OpenAPI 3 description of the routes
"""
