"""The DPO's compliance room (issue 18.5): the compliance report's figures for a period, as
the page shows them: charts (``charts.py``) with their tables, in the session's language.

The figures come from ``governance/report_series.py`` (the report's own definitions); this
module only names them: the codes of the policy (roles, purposes, deny reasons) get their
label in the language, and a code with no label (a reason added later) is shown as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from babel.dates import format_interval, format_skeleton

from pdvault.console.charts import Chart, DataTable, Series, bars, columns
from pdvault.console.i18n import N_, SHOP_ZONE, number, translations, when
from pdvault.console.web import ROLE_LABELS
from pdvault.governance.report_series import (
    DEFAULT_DAYS,
    ComplianceSeries,
    Deadline,
    Period,
    Stacked,
    Step,
    last_days,
)

PURPOSE_LABELS = {
    "registration": N_("Registration"),
    "order_confirmation": N_("Order confirmation"),
    "product_consultation": N_("Product consultation"),
    "product_information": N_("Product information"),
    "marketing": N_("Marketing"),
    "special_case_support": N_("Special-case support"),
    "customer_self_service": N_("Customer self-service"),
    "legal_notice": N_("Legal notice"),
    "order_fulfillment": N_("Order fulfilment (partners)"),
    "judicial_disclosure": N_("Judicial disclosure"),
    "complaint_handling": N_("Complaint handling"),
    "data_subject_request": N_("Data-subject request"),
    "accounting": N_("Accounting"),
}

REASON_LABELS = {
    "purpose_not_permitted": N_("Purpose not permitted"),
    "role_not_permitted": N_("Role not permitted"),
    "field_not_permitted": N_("Field not permitted"),
    "consent_required": N_("Processing consent required"),
    "consent_missing": N_("No marketing consent"),
    "consent_withdrawn": N_("Consent withdrawn"),
    "justification_required": N_("Justification required"),
    "no_pending_notice": N_("No pending notice"),
    "grant_missing": N_("No partner grant"),
    "grant_expired": N_("Partner grant expired"),
    "assignment_missing": N_("No assignment"),
    "request_not_approved": N_("Judicial request not approved"),
    "request_expired": N_("Judicial request expired"),
    "out_of_scope": N_("Outside the judicial request"),
    "no_open_case": N_("No open case"),
}

DEADLINE_LABELS = {
    Deadline.DELETION: N_("Deletion requests"),
    Deadline.ACCESS: N_("Access requests"),
    Deadline.COMPLAINT: N_("Complaints"),
    Deadline.BREACH: N_("Breach notices to the authority"),
}

STATE_LABELS = {
    "on_time": N_("on time"),
    "late": N_("late"),
    "overdue": N_("overdue"),
    "pending": N_("pending"),
}

AUTHORITY_LABELS = {
    "procuracy": N_("People's Procuracy"),
    "court": N_("Court"),
    "police_investigation": N_("Police investigation agency"),
}

NO_ROLE, NO_PURPOSE, NO_REASON = N_("(no role)"), N_("(no purpose)"), N_("(no reason)")
SHORTCUTS = (7, 30, 90, 365)


def default_period(now: datetime) -> Period:
    return last_days(now, SHOP_ZONE, DEFAULT_DAYS)


def shortcut(now: datetime, days: int) -> Period:
    return last_days(now, SHOP_ZONE, days)


@dataclass(frozen=True)
class Words:
    """A language's way with the report's words, numbers and days."""

    language: str

    def __call__(self, message: str) -> str:
        return translations(self.language).gettext(message)

    def number(self, value: float) -> str:
        return number(value, self.language)

    def code(self, labels: dict[str, str], code: str | None, none: str) -> str:
        if code is None:
            return self(none)
        return self(labels[code]) if code in labels else code

    def role(self, code: str | None) -> str:
        return self.code(ROLE_LABELS, code, NO_ROLE)

    def purpose(self, code: str | None) -> str:
        return self.code(PURPOSE_LABELS, code, NO_PURPOSE)

    def reason(self, code: str | None) -> str:
        return self.code(REASON_LABELS, code, NO_REASON)

    def day(self, day: date) -> str:
        return format_skeleton("Md", day, locale=self.language)

    def bar_of(self, period: Period, start: date) -> str:
        """A bar's label: its day, the first day of its week, or its month."""
        if period.step is Step.MONTH:
            return format_skeleton("yM", start, locale=self.language)
        return self.day(start)

    def bar_span(self, period: Period, start: date, end: date) -> str:
        """A bar's span in full, for the table: one day, or first to last."""
        if period.step is Step.DAY:
            return self.day(start)
        return format_interval(start, end, "Md", locale=self.language)

    def when(self, moment: datetime, style: str = "short") -> str:
        return when(moment, self.language, style)


@dataclass(frozen=True)
class ComplianceView:
    """What the page shows: the series (and the report inside), its five charts and the
    report's other figures as tables."""

    series: ComplianceSeries
    by_role: Chart
    by_purpose: Chart
    denials: Chart
    deadlines: Chart
    breaches: Chart
    accesses: DataTable
    cases: DataTable
    breach_figures: DataTable
    judicial: DataTable
    total_accesses: str

    @property
    def period(self) -> Period:
        return self.series.period


_STEP_HEADS = {Step.DAY: N_("Day"), Step.WEEK: N_("Week"), Step.MONTH: N_("Month")}


def _over_time(
    chart_id: str,
    title: str,
    description: str,
    stacked: Stacked,
    name: Callable[[str | None], str],
    words: Words,
    period: Period,
) -> Chart:
    _ = words
    ends = [*(b - timedelta(days=1) for b in stacked.buckets[1:]), period.last]
    return columns(
        chart_id,
        title,
        description,
        [words.bar_of(period, b) for b in stacked.buckets],
        [Series(name(layer.key), layer.counts) for layer in stacked.layers],
        category_head=words(_STEP_HEADS[period.step]),
        number=words.number,
        total_head=_("Total"),
        row_heads=[
            words.bar_span(period, b, e) for b, e in zip(stacked.buckets, ends, strict=True)
        ],
    )


BREACH_TONES = {"on_time": "good", "late": "warn", "overdue": "bad", "pending": "quiet"}


def compliance_view(series: ComplianceSeries, language: str) -> ComplianceView:
    _ = words = Words(language)
    period, report = series.period, series.report
    by_role = _over_time(
        "accesses-by-role",
        _("Accesses by role"),
        _(
            "Allowed accesses to personal data and governance records, stacked by the role "
            "of the caller. The table under the chart holds every figure."
        ),
        series.accesses_by_role,
        words.role,
        words,
        period,
    )
    by_purpose = _over_time(
        "accesses-by-purpose",
        _("Accesses by purpose"),
        _(
            "Allowed accesses, stacked by the purpose stated for them (governance and "
            "administrative acts state none). The table under the chart holds every figure."
        ),
        series.accesses_by_purpose,
        words.purpose,
        words,
        period,
    )
    # The report's denials by reason, in the series' order (no reason last, on both engines).
    reasons = series.denials_by_reason.layers
    denials = bars(
        "denials-by-reason",
        _("Denials by reason"),
        _("Refused accesses in the period, by the reason of the refusal."),
        [words.reason(layer.key) for layer in reasons],
        [Series(_("Denials"), tuple(layer.total for layer in reasons), tone="bad")],
        category_head=_("Reason"),
        number=words.number,
        more_columns=[(_("Code"), [layer.key or "-" for layer in reasons])],
    )
    kinds = list(series.deadlines)
    deadlines = bars(
        "deadlines",
        _("Deadlines: on time, late, overdue"),
        _(
            "Requests, complaints and breach notices answered in the period by their "
            "deadline or after it, and those still owed past their deadline."
        ),
        [_(DEADLINE_LABELS[k]) for k in kinds],
        [
            Series(_("on time"), tuple(series.deadlines[k].on_time for k in kinds), "good"),
            Series(_("late"), tuple(series.deadlines[k].late for k in kinds), "warn"),
            Series(_("overdue"), tuple(series.deadlines[k].overdue for k in kinds), "bad"),
        ],
        category_head=_("Kind"),
        number=words.number,
        more_columns=[(_("Arrived"), [words.number(series.deadlines[k].received) for k in kinds])],
    )
    found = series.breaches
    breaches = bars(
        "breach-delays",
        _("Breaches: hours to the authority's notice"),
        _(
            "For each breach detected in the period, the hours from its detection to the "
            "notice to the authority (or, with no notice yet, the hours so far), against its "
            "deadline."
        ),
        [_("Detected %(when)s") % {"when": words.when(b.detected_at)} for b in found],
        [
            Series(
                _("Hours"),
                tuple(b.delay_hours for b in found),
                tones=tuple(BREACH_TONES[b.state] for b in found),
            )
        ],
        category_head=_("Breach"),
        number=words.number,
        marks=[b.deadline_hours for b in found],
        mark_head=_("Deadline (hours)"),
        legend=[(_(STATE_LABELS[state]), tone) for state, tone in BREACH_TONES.items()],
        # The breach's id is in the CSV and JSON; on the page it would only crowd the table.
        more_columns=[(_("Notice"), [_(STATE_LABELS[b.state]) for b in found])],
    )
    return ComplianceView(
        series,
        by_role,
        by_purpose,
        denials,
        deadlines,
        breaches,
        accesses=DataTable(
            _("Allowed accesses by role and purpose, whole period"),
            (_("Role"), _("Purpose"), _("Accesses")),
            tuple(
                (words.role(a.role), words.purpose(a.purpose), words.number(a.count))
                for a in report.accesses
            ),
        ),
        cases=_cases(series, words),
        breach_figures=_breach_figures(series, words),
        judicial=DataTable(
            _("Disclosures to judicial bodies"),
            (_("Authority"), _("Requests"), _("Disclosures")),
            tuple(
                (
                    words.code(AUTHORITY_LABELS, j.authority_type, NO_REASON),
                    words.number(j.requests),
                    words.number(j.disclosures),
                )
                for j in report.judicial_disclosures
            ),
        ),
        total_accesses=words.number(sum(a.count for a in report.accesses)),
    )


def _figures(caption: str, words: Words, rows: list[tuple[str, int]]) -> DataTable:
    """A table of named figures: the names are catalogue messages."""
    _ = words
    return DataTable(
        caption,
        (_("Figure"), _("Count")),
        tuple((words(name), words.number(n)) for name, n in rows),
    )


def _breach_figures(series: ComplianceSeries, words: Words) -> DataTable:
    b = series.report.breaches
    rows: list[tuple[str, int]] = [
        (N_("Detected"), b.detected),
        (N_("Customers affected"), b.affected_customers),
        (N_("Authority notified on time"), b.authority_on_time),
        (N_("Authority notified late"), b.authority_late),
        (N_("Authority not notified, past the deadline"), b.authority_overdue),
        (N_("Authority not notified, deadline ahead"), b.authority_pending),
        (N_("Notices to the customers queued"), b.subjects_notified),
    ]
    _ = words
    return _figures(_("Breaches detected in the period"), words, rows)


def _cases(series: ComplianceSeries, words: Words) -> DataTable:
    """The report's figures on requests and complaints beyond on time and late: how they
    were decided, and the complaints by status, category and rejection ground."""
    report = series.report
    d, c = report.deletion_requests, report.complaints
    rows: list[tuple[str, int]] = [
        (N_("Deletion requests executed on time"), d.executed_on_time),
        (N_("Deletion requests executed late"), d.executed_late),
        (N_("Deletion requests rejected on time"), d.rejected_on_time),
        (N_("Deletion requests rejected late"), d.rejected_late),
        (N_("Complaints upheld on time"), c.upheld_on_time),
        (N_("Complaints upheld late"), c.upheld_late),
        (N_("Complaints rejected on time"), c.rejected_on_time),
        (N_("Complaints rejected late"), c.rejected_late),
    ]
    _ = words
    table = _figures(_("How requests and complaints were decided"), words, rows)
    coded = [
        (N_("Complaints received, by status now: %(code)s"), c.by_status),
        (N_("Complaints received, by category: %(code)s"), c.by_category),
        (N_("Complaints rejected, by ground: %(code)s"), c.rejected_by_ground),
    ]
    more = tuple(
        (words(name) % {"code": code}, words.number(n))
        for name, counts in coded
        for code, n in counts.items()
    )
    return DataTable(table.caption, table.head, table.rows + more)
