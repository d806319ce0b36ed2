from tests.rights_fixtures import (  # noqa: F401 - fixtures
    auditor,
    dpo,
    legal,
    shop,
    staff,
    subject,
)
