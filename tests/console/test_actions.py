"""A console action is done once per drawn form (issue 19.5): ``act_once`` with the API's
idempotency store; a service's refusal read as a form's messages."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from pdvault.auth.principal import Actor
from pdvault.console.actions import act_once, canonical, once_field, refused
from pdvault.errors import Forbidden, Problem, Unprocessable
from pdvault.policy import Role
from tests.conftest import Issued


def _actor(issued: Issued) -> Actor:
    return Actor(
        principal_id=uuid.UUID(issued.principal_id),
        name="test-admin",
        role=Role.ADMIN,
        partner_id=None,
        token_id=uuid.UUID(issued.token_id),
    )


async def test_a_form_sent_twice_acts_once_and_other_values_under_its_key_are_refused(
    app: Any, admin: Issued
) -> None:
    runtime, actor = app.state.runtime, _actor(admin)
    done: list[int] = []

    async def work() -> dict[str, Any]:
        done.append(1)
        return {"n": len(done)}

    form = {"csrf": "x", "once": "k-1", "reason": "a"}
    async with runtime.sessions() as session:
        first = await act_once(runtime, session, actor, form, "test.act", work)
    async with runtime.sessions() as session:
        # The same drawn form again, with a new CSRF token (the page was reloaded).
        second = await act_once(runtime, session, actor, {**form, "csrf": "y"}, "test.act", work)
    assert first == ({"n": 1}, False)
    assert second == ({"n": 1}, True)
    assert done == [1]

    async with runtime.sessions() as session:
        with pytest.raises(Unprocessable) as raised:
            await act_once(runtime, session, actor, {**form, "reason": "b"}, "test.act", work)
    assert raised.value.reason == "idempotency_key_reused"
    assert done == [1]

    # Without a key (a form posted by hand) every post acts.
    async with runtime.sessions() as session:
        await act_once(runtime, session, actor, {"reason": "a"}, "test.act", work)
    async with runtime.sessions() as session:
        await act_once(runtime, session, actor, {"reason": "a"}, "test.act", work)
    assert done == [1, 1, 1]


def test_drawn_forms_get_distinct_keys_and_the_machinery_is_not_the_request() -> None:
    assert once_field() != once_field()
    assert 'name="once"' in once_field()
    assert canonical({"csrf": "1", "once": "2", "b": "x", "a": "y"}) == b'{"a":"y","b":"x"}'


def test_a_refusal_reads_as_the_forms_messages() -> None:
    problem: Problem = Unprocessable(
        "bad", errors=[{"loc": ["body", "legal_basis"], "msg": "too long"}]
    )
    shown = refused(problem, {"legal_basis": "basis"})
    assert shown.fields == {"basis": "Not valid."}
    assert shown.message == "Something in the form is not valid."
    hold = refused(Forbidden("held", reason="legal_hold"))
    assert "legal hold" in hold.message
    assert hold.reason == "legal_hold"


def test_staffs_text_fields_keep_line_breaks_up_to_the_apis_length_other_fields_stay_short() -> (
    None
):
    from pdvault.console.web import FIELD_MAX, TEXT_MAX, _acceptable

    text = "Dòng một\r\nDòng hai\n" + "x" * (TEXT_MAX - 40)
    assert _acceptable("reason", text)
    assert not _acceptable("reason", "x" * (TEXT_MAX + 1))
    assert not _acceptable("reason", "a\x00b")
    assert not _acceptable("customer_id", "a\nb")
    assert not _acceptable("customer_id", "x" * (FIELD_MAX + 1))
