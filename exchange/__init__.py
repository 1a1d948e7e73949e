"""Exchange with the rest of the government: the delivery side of the transactional outbox.

Domains write outbox records in their own transactions (store.outbox, on the bottom floor); everything
here runs after the commit, in the exchange worker (`manage.py exchange run`) or on request:

- worker: claims deliveries (a lease per row; SKIP LOCKED on PostgreSQL, a conditional update on SQLite),
  hands them to their destination, records the result, backs off with jitter on failure
- queue: the claim, the settlement, destination pauses, replay — the SQL of the delivery table
- destinations: upper (the provincial platform), local (message rules, task results), sms, webhook
- upper: records as the JSON the platforms exchange (案件编号、问题来源、大类/小类 …); signing: HMAC-SHA256
- transport: HTTP (requests) with timeouts and mutual TLS as configured
- rules (+ rules.yaml): who gets what message; recipients: users and contacts a rule names; notify: records
  (and the deadline scan) → messages, with de-duplication and quiet hours; channels: webhook and SMS adapters
- tasks: tasks handed down (交办/督办) → cases through events.intake, or a raised priority/deadline;
  routes: POST /exchange/v1/tasks (server.py); pull: the same for outbound-only networks
- snapshot: a period's cases, regions and indicators as files for the 共享交换平台, written atomically
- views: the read face (消息中心, exchange status); actions: the writes pages trigger; cli: `manage.py exchange`

It stands above the domains and the indicator engine (it turns tasks into cases through events.intake and
exports indicators), below ui/ and the pages (the 消息中心 and the status section read it).
"""
