"""manage.py commands of the sensors module: import-sensors, import-readings, ingest-mqtt,
sensor-status, evaluate-alerts. Each command imports what it runs when it runs, so registering the
commands (every manage.py start) loads neither pandas nor the MQTT client."""
from __future__ import annotations

import logging
import signal
from datetime import datetime, timezone

import settings
from store.db import get_engine, session_scope
from store.scope import Viewer
from tabular import TabularError

IMPORT_REFRESH_ROWS = 10_000  # an import storing this many readings refreshes the statistics at once


def register(sub) -> None:  # noqa: ANN001
    p = sub.add_parser("import-sensors", help="从 CSV/Excel 导入传感器登记表（全部成功或全部不写入）")
    p.add_argument("file")
    p.add_argument("--crs", default="wgs84", help="文件坐标系：wgs84（默认）/ gcj02 / bd09 / cgcs2000")
    p.set_defaults(func=cmd_import_sensors)

    p = sub.add_parser("import-readings", help="从 CSV/Excel 批量导入监测读数（长表或宽表，全部成功或全部不写入）")
    p.add_argument("file")
    p.add_argument("--assume-tz", default=None, help="文件时间不带时区时按此时区解释，例如 Asia/Shanghai")
    p.add_argument("--no-alerts", action="store_true", help="导入后不评估告警规则")
    p.set_defaults(func=cmd_import_readings)

    p = sub.add_parser("ingest-mqtt", help="订阅 MQTT 实时读数并入库（持续运行，Ctrl+C 结束）")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--client-id", default=None)
    p.add_argument("--max-seconds", type=float, default=None, help="运行指定秒数后退出（测试用）")
    p.add_argument("--no-alerts", action="store_true", help="不评估告警规则")
    p.set_defaults(func=cmd_ingest_mqtt)

    p = sub.add_parser("sensor-status", help="显示传感器在线情况与采集计数")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("evaluate-alerts", help="对全部传感器评估一次告警规则")
    p.set_defaults(func=cmd_evaluate_alerts)


def cmd_import_sensors(args) -> int:  # noqa: ANN001
    from sensors.registry import import_sensors  # loaded when the command runs, not at every manage.py start

    engine = get_engine()
    try:
        with session_scope(engine) as session:
            res = import_sensors(session, engine, args.file, crs=args.crs)
    except TabularError as exc:
        print(exc)
        return 1
    print(f"传感器导入完成（{res.file}）：新增 {res.created} 个，更新 {res.updated} 个（坐标系 {res.crs} → WGS-84）")
    return 0


def cmd_import_readings(args) -> int:  # noqa: ANN001
    from sensors.readings_import import import_readings  # loaded when the command runs, not at every start
    from sensors.registry import load_index  # loaded when the command runs

    engine = get_engine()
    try:
        with session_scope(engine) as session:
            res = import_readings(session, args.file, assume_tz=args.assume_tz)
    except TabularError as exc:
        print(exc)
        return 1
    r = res.result
    print(f"读数导入完成（{res.file}，{'长表' if res.layout == 'long' else '宽表'}，{res.rows} 行）："
          f"新入库 {r.stored} 条，已存在跳过 {r.duplicates} 条")
    if r.stored >= IMPORT_REFRESH_ROWS:  # a big back-fill: the planner sees it now, not after autovacuum
        from store import bulkload  # loaded when the command runs
        from store.models import sensors as tables  # loaded when the command runs

        bulkload.vacuum_analyze(engine, (tables.SensorReading, tables.SensorHourly, tables.SensorDaily,
                                         tables.SensorAreaDaily, tables.SensorLatest))
    if not args.no_alerts and r.stored:
        from sensors.alerts import evaluate_sensors  # loaded when the command runs

        with session_scope(engine) as session:
            opened, closed = evaluate_sensors(session, set(r.touched_hours), load_index(session),
                                              datetime.now(timezone.utc))
        print(f"告警评估：新开 {opened} 条，解除 {closed} 条")
    return 0


def cmd_ingest_mqtt(args) -> int:  # noqa: ANN001
    from sensors.mqtt_ingest import Ingester  # loaded when the command runs (the MQTT client)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    ing = Ingester(get_engine(), host=args.host, port=args.port, client_id=args.client_id,
                   evaluate_alerts=not args.no_alerts)
    signal.signal(signal.SIGTERM, lambda *_: ing.stop())
    print(f"开始采集：{ing.host}:{ing.port} 主题 {ing.topic}（批量 {ing.batch_size} 条 / {ing.batch_seconds} 秒）")
    try:
        ing.run(max_seconds=args.max_seconds)
    except KeyboardInterrupt:
        ing.stop()
    print("采集结束：" + "，".join(f"{k}={v}" for k, v in sorted(ing.stats().items())))
    return 0


def cmd_status(args) -> int:  # noqa: ANN001
    from sensors.views import SensorViews  # loaded when the command runs

    # The operator at the command line reads as a city-wide duty officer: the system-wide counts and
    # the collectors' status require import_data (auth.roles; there is no all-powerful "admin" role).
    operator = Viewer("cli", "duty_officer", str(settings.get_settings()["city"]["code"]), display_name="命令行")
    now = datetime.now(timezone.utc)
    with SensorViews.open(get_engine(), operator) as views:
        counts = views.sensor_counts_system(now)
        status = views.ingest_status_rows()
    for kind, c in counts.items():
        print(f"  {kind:8s} 共 {c['total']:>5} 在线 {c['online']:>5} 离线 {c['offline']:>5}")
    for row in status:
        print(f"  采集进程 {row['name']}：{'已连接' if row['connected'] else '未连接'}，更新于 {row['updated_at']}，{row['counters']}")
    return 0


def cmd_evaluate_alerts(args) -> int:  # noqa: ANN001
    from sensors.alerts import evaluate_sensors  # loaded when the command runs
    from sensors.registry import load_index  # loaded when the command runs

    with session_scope(get_engine()) as session:
        index = load_index(session)
        opened, closed = evaluate_sensors(session, set(index.sensors), index, datetime.now(timezone.utc))
    print(f"告警评估：新开 {opened} 条，解除 {closed} 条")
    return 0
