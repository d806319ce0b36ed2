"""The auditor's room (issue 18): the access log, an event, its CSV, verification, a
customer's access report. Built on the API's own queries (audit/service.py)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
