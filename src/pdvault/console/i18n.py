"""The console's languages: Vietnamese by default, English on choice (issue 18).

Every string a page shows is a gettext message: templates call ``_("...")`` (Jinja's i18n
extension), Python marks its messages with ``N_("...")`` and the template translates them.
The Vietnamese catalogue is ``locale/vi/LC_MESSAGES/messages.po`` beside this file, compiled
in memory when the console starts (no ``.mo`` to build or commit); English is the messages
themselves. ``babel.cfg`` beside this file says what ``pybabel extract`` reads.

Times are shown in the shop's zone (Asia/Ho_Chi_Minh) in each language's own format.
"""

from __future__ import annotations

import gettext
from datetime import datetime
from functools import cache
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"
SHOP_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"


def N_(message: str) -> str:  # noqa: N802 - the conventional gettext marker
    """Marks ``message`` for extraction; the page translates it when it is shown."""
    return message


def marked_messages() -> set[str]:
    """Every message the console's Python and templates mark, as ``pybabel extract`` with
    this package's ``babel.cfg`` finds them: what the catalogue must hold (``.ci/catalogue``
    writes it, ``tests/console/test_language.py`` checks it)."""
    from babel.messages.extract import extract_from_dir

    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    options = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    found: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(Path(__file__).parent), method_map=method_map, options_map=options
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def language_or_default(raw: str | None) -> str:
    return raw if raw in LANGUAGES else DEFAULT_LANGUAGE


def catalogue(language: str) -> Catalog:
    """The ``.po`` catalogue of ``language`` as Babel reads it."""
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as po:
        return read_po(po, locale=language, domain=DOMAIN)


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The language's translations, compiled in memory from its ``.po`` once per process
    (fuzzy entries are left out, as ``msgfmt`` would)."""
    if language == "en":
        return gettext.NullTranslations()
    compiled = BytesIO()
    write_mo(compiled, catalogue(language))
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def when(value: datetime | None, language: str, style: str = "medium") -> str:
    """A time as the shop reads it: in Asia/Ho_Chi_Minh, in the language's own format."""
    if value is None:
        return ""
    return format_datetime(value, style, tzinfo=SHOP_ZONE, locale=language)


def number(value: float, language: str) -> str:
    """A number as the language writes it (``1.000`` in Vietnamese, ``1,000`` in English)."""
    return format_decimal(value, locale=language)
