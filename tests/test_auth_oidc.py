"""OIDC (st.login): when it is offered, how the provider's claims map to a role and zone, and the
local account row kept for each such user (deactivation still works, logins are audited)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from auth import oidc, service
from store.db import session_scope
from store.models import User
from store.scope import Viewer
from tests.test_auth_support import audit_rows, auth_test_settings  # noqa: F401

CLAIMS = {"preferred_username": "Li.Si", "name": "李四", "cityops_role": "领导", "cityops_zone": "440902",
          "email": "lisi@gd.gov.cn"}


def test_provider_detection():
    base = {"redirect_uri": "http://x/oauth2callback", "cookie_secret": "s" * 32}
    assert not oidc.secrets_have_provider({})
    assert not oidc.secrets_have_provider({"auth": {"client_id": "x"}})  # no redirect/cookie secret
    assert oidc.secrets_have_provider({"auth": {**base, "client_id": "abc", "server_metadata_url": "u"}})
    named = {"auth": {**base, "gdzwfw": {"client_id": "abc", "server_metadata_url": "u"}}}
    assert oidc.secrets_have_provider(named) and oidc.provider_names(named) == ["gdzwfw"]


def test_claims_map_to_viewer():
    assert oidc.map_claims(CLAIMS) == Viewer("li.si", "leader", "440902", None, "李四")
    dept = {**CLAIMS, "cityops_role": ["部门处置人员"], "cityops_department": "440900-CGJ"}
    assert oidc.map_claims(dept).department_code == "440900-CGJ"
    by_email = {k: v for k, v in CLAIMS.items() if k != "preferred_username"}
    assert oidc.map_claims(by_email).username == "lisi"


@pytest.mark.parametrize("change, message", [
    ({"cityops_role": "superuser"}, "未授予本系统角色"),
    ({"cityops_role": None}, "未授予本系统角色"),
    ({"cityops_zone": "4409' OR 1=1"}, "管辖区划代码"),
    ({"preferred_username": "' OR 1=1 --"}, "用户名不符合"),
    ({"cityops_role": "部门处置人员"}, "所属部门"),
])
def test_unmappable_claims_are_refused_in_chinese(change, message):
    with pytest.raises(oidc.OidcMappingError, match=message):
        oidc.map_claims({**CLAIMS, **change})


def test_claim_names_come_from_config():
    cfg = {"username_claim": "uid", "role_claim": "groups", "zone_claim": "org_code",
           "role_values": {"city-duty": "duty_officer"}}
    viewer = oidc.map_claims({"uid": "duty1", "groups": ["city-duty"], "org_code": "440900"}, cfg)
    assert (viewer.username, viewer.role, viewer.zone_code) == ("duty1", "duty_officer", "440900")


def test_sync_user_creates_updates_and_respects_deactivation(city_engine):
    viewer = oidc.map_claims(CLAIMS)
    with session_scope(city_engine) as s:
        oidc.sync_user(s, viewer, client="10.0.0.5")
    with session_scope(city_engine) as s:  # the provider moved the user to another district
        oidc.sync_user(s, Viewer("li.si", "leader", "440904", None, "李四"))
    with session_scope(city_engine, readonly=True) as s:
        user = s.execute(select(User).where(User.username == "li.si")).scalar_one()
        assert (user.zone_code, user.password_hash, user.active) == ("440904", None, True)
    assert [r.detail["method"] for r in audit_rows(city_engine, "login")] == ["oidc", "oidc"]
    # No local password: the local login form cannot be used for this account.
    with pytest.raises(service.LoginFailed):
        service.sign_in(city_engine, "li.si", "", "10.0.0.5")
    with session_scope(city_engine) as s:
        service.deactivate(s, "li.si")
    with pytest.raises(service.LoginFailed) as exc:
        oidc.sign_in(city_engine, viewer, client="10.0.0.5")
    assert exc.value.code == "inactive"
    [refused] = audit_rows(city_engine, "login_failed")  # committed although sign-in was refused
    assert refused.detail == {"method": "oidc", "reason": "inactive"}
    with session_scope(city_engine, readonly=True) as s:
        assert not oidc.user_is_active(s, "li.si")


def test_sync_user_refuses_unknown_zone(city_engine):
    with pytest.raises(oidc.OidcMappingError, match="不存在"):
        with session_scope(city_engine) as s:
            oidc.sync_user(s, Viewer("li.si", "leader", "449999", None, "李四"))
