"""k-anonymity: in the export every combination of all the columns it holds (week,
language, forms of violence, age group, region, teller, consent) is shared by at least
k rows, and each row shows a generalization of its own values, never another row's."""

from __future__ import annotations

import csv
import io
import random
from collections import Counter
from datetime import date, timedelta

import pytest
from django.core.management import call_command
from hypothesis import given, settings
from hypothesis import strategies as st

from submissions.choices import AgeGroup, Consent, Language, Region, Status, Teller, ViolenceForm
from submissions.export import (
    HEADER,
    LEVELS,
    SEVERAL,
    WITHHELD,
    Generalization,
    Key,
    iso_week,
    shown_at,
)
from submissions.models import AuditEvent, Testimony

# Three weeks from the first day of the Astana installation, across a month's end.
OPENED = date(2023, 11, 23)
DAYS = [OPENED + timedelta(days=n) for n in range(21)]
AGES = [*AgeGroup.values, ""]
REGIONS = [*Region.values, ""]  # Kazakh regions, whole countries ("KG"), "other", unsaid
TELLERS = [*Teller.values, ""]
# Every column of the file but the record id and the text.
EXPORTED = (
    "received_week",
    "language",
    "forms_of_violence",
    "age_group",
    "region",
    "teller",
    "consent",
)
forms = st.sets(st.sampled_from(ViolenceForm.values), max_size=3).map(
    lambda chosen: ",".join(sorted(chosen))
)
# Days across two month ends and a year's end, where ISO week 1 of 2025 begins in 2024.
SPREAD = DAYS + [date(2024, 12, 20) + timedelta(days=n) for n in range(21)]
row = st.tuples(
    st.sampled_from(SPREAD),
    st.sampled_from(Language.values),
    forms,
    st.sampled_from(AGES),
    st.sampled_from(REGIONS),
    st.sampled_from(TELLERS),
    st.sampled_from(Consent.values),
)
# Independent rows are nearly all unique; rows drawn from a small pool repeat, so
# both the rare and the common cases come up.
data_sets = st.one_of(
    st.lists(row, max_size=120),
    st.lists(row, min_size=1, max_size=10).flatmap(
        lambda pool: st.lists(st.sampled_from(pool), max_size=200)
    ),
)


def month_of(week: str) -> str:
    """The month of an ISO week: the month its Thursday falls in."""
    year, number = week.split("-W")
    thursday = date.fromisocalendar(int(year), int(number), 4)
    return f"{thursday.year}-{thursday.month:02d}"


def generalizes(original: tuple[str, ...], shown: tuple[str, ...]) -> bool:
    week, language, forms, age, region, teller, consent = original
    allowed = (
        {week, month_of(week), WITHHELD},
        {language, WITHHELD},
        {forms, WITHHELD} | ({SEVERAL} if "," in forms else set()),
        {age, WITHHELD},
        {region, region.split("-")[0], WITHHELD},
        {teller, WITHHELD},
        {consent},
    )
    return all(value in options for value, options in zip(shown, allowed, strict=True))


def all_at_once(counts: Counter[Key], k: int) -> dict[Key, Key | None]:
    """The rule as it reads, over every combination at once, level after level: a
    combination takes the first level at which what it shows is shared by at least k
    rows, counting those shown as the same at an earlier level; the rest are left out.
    What ``Generalization`` must decide, week by week."""
    shown: dict[Key, Key | None] = {}
    settled: Counter[Key] = Counter()
    pending = dict(counts)
    for level in LEVELS:
        show_key = shown_at(level)
        targets = {key: show_key(key) for key in pending}
        candidates: Counter[Key] = Counter()
        for key, target in targets.items():
            candidates[target] += pending[key]
        reached = {
            key: target
            for key, target in targets.items()
            if settled[target] + candidates[target] >= k
        }
        for key, target in reached.items():
            shown[key] = target
            settled[target] += pending.pop(key)
    shown.update(dict.fromkeys(pending))
    return shown


def generalize(counts: Counter[Key], k: int) -> tuple[dict[Key, Key | None], Generalization]:
    """``Generalization`` given the combinations week by week, as the export's plan
    reads them; what it shows for each."""
    generalization = Generalization(k)
    for key in sorted(counts):  # ISO weeks as text sort in time order
        generalization.add(key, counts[key])
    generalization.finish()
    return {key: generalization.shown(key) for key in counts}, generalization


@settings(max_examples=400, deadline=None)
@given(data_sets, st.integers(min_value=2, max_value=6))
def test_every_shown_combination_is_shared_by_at_least_k_rows(rows, k):
    counts = Counter((iso_week(day), *rest) for day, *rest in rows)

    shown, generalization = generalize(counts, k)

    assert shown.keys() == counts.keys()
    groups: Counter[tuple[str, ...]] = Counter()
    for original, n in counts.items():
        if shown[original] is not None:
            groups[shown[original]] += n
            assert generalizes(original, shown[original]), (original, shown[original])
        if n >= k:
            assert shown[original] == original, "a common combination is shown as it is"
    assert all(n >= k for n in groups.values()), groups
    suppressed = sum(n for original, n in counts.items() if shown[original] is None)
    assert suppressed + sum(groups.values()) == len(rows)
    # Whatever is left over at the last level is fewer than k rows of each consent (the
    # one column never generalized), or it would be shown.
    for consent in Consent.values:
        left = sum(n for key, n in counts.items() if shown[key] is None and key[-1] == consent)
        assert left < k
    # Decided week by week, exactly as the rule decides over everything at once.
    assert shown == all_at_once(counts, k)
    assert generalization.suppressed == suppressed
    assert generalization.rows == len(rows)
    changed = Counter()
    for original, n in counts.items():
        if shown[original] is not None:
            for name, given, exported in zip(HEADER[1:8], original, shown[original], strict=True):
                changed[name] += n if given != exported else 0
    assert dict(zip(HEADER[1:8], generalization.generalized, strict=True)) == {
        name: changed[name] for name in HEADER[1:8]
    }


def test_combinations_out_of_time_order_are_refused():
    generalization = Generalization(2)
    generalization.add(("2023-W47", "ru", "", "", "", "", "quote"), 1)
    generalization.add(("2023-W48", "ru", "", "", "", "", "quote"), 1)

    with pytest.raises(ValueError, match="week by week"):
        generalization.add(("2023-W47", "kk", "", "", "", "", "quote"), 1)


@pytest.mark.django_db
@pytest.mark.parametrize("k", [3, 5])
def test_the_exported_file_is_k_anonymous(k, settings, tmp_path):
    settings.UNTOLD_EXPORT_K = k
    rng = random.Random(k)
    records = []
    for n in range(90):
        record = Testimony(
            language=rng.choice(Language.values),
            received_on=rng.choice(DAYS),
            age_group=rng.choice(AGES),
            region=rng.choice(REGIONS),
            teller=rng.choice(TELLERS),
            consent=rng.choice(Consent.values),
            status=Status.APPROVED if n < 80 else Status.REJECTED,
        )
        record.violence_forms = rng.sample(ViolenceForm.values, rng.randint(0, 3))
        record.seal_text(f"original {n}")
        record.seal_campaign_text(f"campaign {n}")
        records.append(record)
    Testimony.objects.bulk_create(records)
    output = tmp_path / "export.csv"

    call_command("export_testimonies", output=str(output), stderr=io.StringIO())

    exported = list(csv.DictReader(io.StringIO(output.read_text("utf-8-sig"), newline="")))
    combinations = Counter(tuple(row[name] for name in EXPORTED) for row in exported)
    assert combinations and all(n >= k for n in combinations.values()), combinations
    detail = AuditEvent.objects.get(action=AuditEvent.Action.EXPORTED).detail
    assert detail["rows"] == len(exported)
    assert detail["rows"] + detail["suppressed"] == 80
    assert detail["suppressed"] < 2 * k  # fewer than k of each consent
