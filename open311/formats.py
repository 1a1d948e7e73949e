"""GeoReport v2 documents in JSON and XML.

Every answer is a list of records (services, service_requests, errors …) or one record (a service
definition, the discovery document). In XML the list is a root element named for the collection with
one child per record (`<service_requests><request>…</request></service_requests>`), nested lists the
same way (`<attributes><attribute>…`), as the spec's examples and FixMyStreet's server write them.
Values are text; None is left out; booleans are "true"/"false".

Text from outside (descriptions, addresses) is data: ElementTree escapes it, and characters that XML
1.0 cannot carry at all are removed rather than written.
"""
from __future__ import annotations

import json
import re
from xml.etree import ElementTree as ET

from starlette.responses import Response

FORMATS = ("json", "xml")
MEDIA = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
# Collection → its records' element name.
ITEM = {"services": "service", "service_requests": "request", "errors": "error", "attributes": "attribute",
        "values": "value", "endpoints": "endpoint", "formats": "format"}
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value) -> str:  # noqa: ANN001
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _fill(parent: ET.Element, record: dict) -> None:
    for key, value in record.items():
        if value is None:
            continue
        child = ET.SubElement(parent, key)
        if isinstance(value, dict):
            _fill(child, value)
        elif isinstance(value, (list, tuple)):
            for item in value:
                node = ET.SubElement(child, ITEM.get(key, "item"))
                if isinstance(item, dict):
                    _fill(node, item)
                else:
                    node.text = _text(item)
        else:
            child.text = _text(value)


def to_xml(root: str, body) -> bytes:  # noqa: ANN001 - a list of records or one record
    top = ET.Element(root)
    if isinstance(body, dict):
        _fill(top, body)
    else:
        for record in body:
            _fill(ET.SubElement(top, ITEM[root]), record)
    return b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(top, encoding="utf-8", xml_declaration=False)


def _json_ready(value):  # noqa: ANN001, ANN202
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    return value


def render(fmt: str, root: str, body, status: int = 200, headers: dict | None = None) -> Response:  # noqa: ANN001
    """The response for `body` (a list of records, or one record) as `fmt`; `root` names the XML root."""
    if fmt == "xml":
        content = to_xml(root, body)
    else:
        # "replace": a lone surrogate quoted back in an error message must not turn the answer into a 500.
        content = json.dumps(_json_ready(body), ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace")
    out = Response(content, status_code=status, media_type=MEDIA["xml" if fmt == "xml" else "json"],
                   headers=headers)
    out.headers["Cache-Control"] = "no-store"
    return out


def errors(fmt: str, status: int, *messages: str, headers: dict | None = None) -> Response:
    """The spec's error answer: a list of {code, description}, code = the HTTP status."""
    return render(fmt if fmt in FORMATS else "json", "errors",
                  [{"code": status, "description": m} for m in messages], status, headers)
