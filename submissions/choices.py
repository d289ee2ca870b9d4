"""The answers a testimony may carry, and the states it goes through.

Promise: every structured answer is one of a short, fixed list, so that no free text
hides in a field meant for a category, and export and statistics can count them.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Language(models.TextChoices):
    KAZAKH = "kk", "Қазақша"
    RUSSIAN = "ru", "Русский"
    ENGLISH = "en", "English"


class ViolenceForm(models.TextChoices):
    PHYSICAL = "physical", _("Physical violence")
    SEXUAL = "sexual", _("Sexual violence")
    PSYCHOLOGICAL = "psychological", _("Psychological violence")
    ECONOMIC = "economic", _("Economic violence")
    HARASSMENT = "harassment", _("Harassment")
    TRAFFICKING = "trafficking", _("Trafficking")
    FGM = "fgm", _("Female genital mutilation")
    CHILD_MARRIAGE = "child_marriage", _("Child marriage")
    OTHER = "other", _("Other")


class AgeGroup(models.TextChoices):
    UNDER_18 = "under_18", _("Under 18")
    FROM_18 = "18_24", _("18–24")
    FROM_25 = "25_34", _("25–34")
    FROM_35 = "35_44", _("35–44")
    FROM_45 = "45_54", _("45–54")
    FROM_55 = "55_64", _("55–64")
    FROM_65 = "65_plus", _("65 or older")


class Region(models.TextChoices):
    """Central Asia: Kazakhstan by region (ISO 3166-2), its neighbours by country, and
    online. The part before the hyphen is the country, which export uses to generalize
    (a value without one is its own country)."""

    KZ_ASTANA = "KZ-71", _("Kazakhstan — Astana")
    KZ_ALMATY_CITY = "KZ-75", _("Kazakhstan — Almaty (city)")
    KZ_SHYMKENT = "KZ-79", _("Kazakhstan — Shymkent")
    KZ_ABAI = "KZ-10", _("Kazakhstan — Abai Region")
    KZ_AKMOLA = "KZ-11", _("Kazakhstan — Akmola Region")
    KZ_AKTOBE = "KZ-15", _("Kazakhstan — Aktobe Region")
    KZ_ALMATY = "KZ-19", _("Kazakhstan — Almaty Region")
    KZ_ATYRAU = "KZ-23", _("Kazakhstan — Atyrau Region")
    KZ_WEST = "KZ-27", _("Kazakhstan — West Kazakhstan Region")
    KZ_ZHAMBYL = "KZ-31", _("Kazakhstan — Zhambyl Region")
    KZ_ZHETYSU = "KZ-33", _("Kazakhstan — Zhetysu Region")
    KZ_KARAGANDA = "KZ-35", _("Kazakhstan — Karaganda Region")
    KZ_KOSTANAY = "KZ-39", _("Kazakhstan — Kostanay Region")
    KZ_KYZYLORDA = "KZ-43", _("Kazakhstan — Kyzylorda Region")
    KZ_MANGYSTAU = "KZ-47", _("Kazakhstan — Mangystau Region")
    KZ_PAVLODAR = "KZ-55", _("Kazakhstan — Pavlodar Region")
    KZ_NORTH = "KZ-59", _("Kazakhstan — North Kazakhstan Region")
    KZ_TURKISTAN = "KZ-61", _("Kazakhstan — Turkistan Region")
    KZ_ULYTAU = "KZ-62", _("Kazakhstan — Ulytau Region")
    KZ_EAST = "KZ-63", _("Kazakhstan — East Kazakhstan Region")
    KYRGYZSTAN = "KG", _("Kyrgyzstan")
    TAJIKISTAN = "TJ", _("Tajikistan")
    TURKMENISTAN = "TM", _("Turkmenistan")
    UZBEKISTAN = "UZ", _("Uzbekistan")
    ONLINE = "online", _("Online")
    ELSEWHERE = "other", _("Elsewhere")


class Teller(models.TextChoices):
    """Who is telling the story."""

    SURVIVOR = "survivor", _("I am the survivor")
    WITNESS = "witness", _("I am a witness")
    RELATIVE = "relative", _("I am a relative or friend")


class Consent(models.TextChoices):
    QUOTE = "quote", _("May be quoted anonymously in campaign materials")
    STATISTICS = "statistics", _("Use for statistics only")


class Status(models.TextChoices):
    NEW = "new", _("New")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
