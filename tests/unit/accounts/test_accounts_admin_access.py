"""The Django admin follows the meshui admin role, and nobody can rewrite the audit log."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from accounts.roles import set_role
from traffic.models import AuditLogIsAppendOnly, TrafficChange


def audit_entry() -> TrafficChange:
    return TrafficChange.objects.create(
        actor="alice", auth_method="session", backend="local", namespace="shop", service="cart",
        operation="patch", summary="weights v1 90 / v2 10", before={}, after={}, before_resources=[],
        after_resources=[], diff="", version_before="1", version_after="2",
    )  # fmt: skip


def test_the_admin_role_is_staff_and_losing_it_is_not(make_user):
    # given an operator
    user = make_user("olga", role="operator")
    assert not User.objects.get(pk=user.pk).is_staff
    # when made admin, then Django sees a staff user; when made operator again, no longer
    set_role(user, "admin")
    assert User.objects.get(pk=user.pk).is_staff
    set_role(user, "operator")
    assert not User.objects.get(pk=user.pk).is_staff


def test_adding_the_user_from_the_group_side_also_makes_staff(make_user):
    from django.contrib.auth.models import Group

    user = make_user("gus")
    Group.objects.get(name="admin").user_set.add(user)
    assert User.objects.get(pk=user.pk).is_staff


def test_an_admin_opens_the_admin_and_edits_namespace_limits(client, make_user):
    # given a user with the admin role (not a superuser)
    make_user("ada", role="admin")
    client.login(username="ada", password="correct horse battery")
    # when opening the admin, the namespace limits and the audit log
    # then each answers 200
    for path in ("/admin/", "/admin/traffic/operatornamespace/", "/admin/traffic/operatornamespace/add/",
                 "/admin/traffic/trafficchange/", "/admin/accounts/apitoken/", "/admin/auth/user/"):  # fmt: skip
        assert client.get(path).status_code == 200, path


def test_an_operator_is_sent_to_the_admin_login(client, make_user):
    make_user("otto", role="operator")
    client.login(username="otto", password="correct horse battery")
    answer = client.get("/admin/traffic/operatornamespace/")
    assert answer.status_code == 302
    assert "/admin/login/" in answer["Location"]


@pytest.mark.parametrize("superuser", [False, True])
def test_nobody_deletes_or_edits_an_audit_entry_in_the_admin(client, make_user, superuser):
    # given an audit entry and an admin (or a superuser) signed in
    entry = audit_entry()
    make_user("root", role=None if superuser else "admin", superuser=superuser)
    client.login(username="root", password="correct horse battery")
    # when deleting it through the admin (the page and the bulk action) or posting an edit
    assert client.get(f"/admin/traffic/trafficchange/{entry.pk}/delete/").status_code == 403
    client.post("/admin/traffic/trafficchange/", {"action": "delete_selected", "_selected_action": [entry.pk],
                                                  "post": "yes"})  # fmt: skip
    client.post(f"/admin/traffic/trafficchange/{entry.pk}/change/", {"summary": "nothing happened"})
    # then the entry is still there, unchanged
    assert TrafficChange.objects.get(pk=entry.pk).summary == "weights v1 90 / v2 10"


def test_the_audit_model_refuses_updates_and_deletes(db):
    entry = audit_entry()
    entry.summary = "rewritten"
    with pytest.raises(AuditLogIsAppendOnly):
        entry.save()
    with pytest.raises(AuditLogIsAppendOnly):
        entry.delete()
    assert TrafficChange.objects.get(pk=entry.pk).summary == "weights v1 90 / v2 10"
