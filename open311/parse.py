"""The parameters of a POST requests call, from whatever body the client sent.

The spec sends `application/x-www-form-urlencoded` (attribute[code]=value, repeated for a
multivaluelist). As extensions we also read a JSON object (the same keys; `attribute` may be an object
of code → value or list) and an XML document (`<service_request>` whose children are the same keys;
`<attribute code="depth_cm">30</attribute>`, repeated for several values). XML is parsed with
defusedxml: no DTDs, no entities, so no entity expansion bombs or external fetches.

Whatever the format: the body is capped (Policy.max_body_bytes) before it is read whole; every value
must be text without control characters (line breaks allowed in the description); nothing else is
interpreted. Errors are BadRequest with a Chinese message (the routes answer 400).
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

FIELDS = ("jurisdiction_id", "service_code", "lat", "long", "crs", "address_string", "address_id", "region_code",
          "email", "device_id", "account_id", "first_name", "last_name", "phone", "description", "media_url",
          "api_key")
_ATTRIBUTE = re.compile(r"^attribute\[([^\[\]]{1,40})\](?:\[\])?$")
MAX_FIELDS = 60


class BadRequest(ValueError):
    """The body cannot be read as a request (Chinese message)."""


@dataclass
class Params:
    values: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, list[str]] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        value = self.values.get(name)
        return value if value not in (None, "") else None


def _text(name: str, value) -> str:  # noqa: ANN001
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise BadRequest(f"参数 {name} 应为文本或数字")
    text = str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, which JSON's \ud800 escapes can carry
        raise BadRequest(f"参数 {name} 含有无效的 Unicode 字符") from None
    allowed = "\t\r\n" if name == "description" else ""
    if any(unicodedata.category(ch) == "Cc" and ch not in allowed for ch in text):
        raise BadRequest(f"参数 {name} 含有控制字符")
    return text.strip()


def _add(params: Params, name: str, value) -> None:  # noqa: ANN001
    m = _ATTRIBUTE.match(name)
    if m:
        values = value if isinstance(value, list) else [value]
        params.attributes.setdefault(m.group(1), []).extend(_text(f"attribute[{m.group(1)}]", v) for v in values)
    elif name in FIELDS:
        if name in params.values:
            raise BadRequest(f"参数 {name} 重复")
        params.values[name] = _text(name, value)
    else:
        params.unknown.append(name[:40])
    if len(params.values) + sum(len(v) for v in params.attributes.values()) + len(params.unknown) > MAX_FIELDS:
        raise BadRequest(f"参数过多（最多 {MAX_FIELDS} 个）")


def from_form(body: bytes) -> Params:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("表单不是 UTF-8 编码") from None
    params = Params()
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=MAX_FIELDS)
    except ValueError:
        raise BadRequest("表单格式错误") from None
    for name, value in pairs:
        _add(params, name, value)
    return params


def from_json(body: bytes) -> Params:
    try:
        doc = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):  # bad UTF-8, bad JSON, a number of thousands of digits
        raise BadRequest("JSON 格式错误") from None
    if not isinstance(doc, dict):
        raise BadRequest("JSON 应为一个对象（键为 Open311 参数名）")
    params = Params()
    for name, value in doc.items():
        if name == "attribute":
            if not isinstance(value, dict):
                raise BadRequest("attribute 应为对象（附加信息代码 → 值）")
            for code, answer in value.items():
                if isinstance(answer, list) and not all(isinstance(a, (str, int, float)) for a in answer):
                    raise BadRequest(f"attribute[{str(code)[:40]}] 的值应为文本或数字")
                _add(params, f"attribute[{code}]", answer)
        else:
            _add(params, str(name), value)
    return params


def from_xml(body: bytes) -> Params:
    try:
        root = SafeET.fromstring(body, forbid_dtd=True)
    except (SafeET.ParseError, DefusedXmlException, ValueError):
        raise BadRequest("XML 格式错误（或含有不允许的 DTD/实体）") from None
    params = Params()
    for child in root:
        if len(child):
            raise BadRequest(f"XML 元素 <{str(child.tag)[:40]}> 不应再含子元素")
        if child.tag == "attribute":
            code = child.get("code")
            if not code:
                raise BadRequest('XML 的 <attribute> 须带 code 属性，如 <attribute code="depth_cm">30</attribute>')
            _add(params, f"attribute[{code}]", child.text or "")
        else:
            _add(params, str(child.tag), child.text or "")
    return params


def parse_body(body: bytes, content_type: str | None) -> Params:
    """Parameters from a POST body by its content type (form when none is given)."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind in ("application/json",) or kind.endswith("+json"):
        return from_json(body)
    if kind in ("text/xml", "application/xml") or kind.endswith("+xml"):
        return from_xml(body)
    if kind in ("", "application/x-www-form-urlencoded"):
        return from_form(body)
    raise BadRequest(f"不支持的 Content-Type「{kind[:60]}」：请使用 application/x-www-form-urlencoded、"
                     "application/json 或 text/xml")
