"""Kazakh date and number formats, which Django does not ship.

A date reads "2026 жылғы 21 желтоқсан": the year, "жылғы", the day, then the month in
lower case. Django's Kazakh catalog capitalises month names (its "Желтоқсан" suits a
calendar heading, not the middle of a sentence), so the names that ``E`` prints are
marked here and translated in lower case in locale/kk, which Django reads before its own.
"""

from django.utils.translation import pgettext_lazy

DATE_FORMAT = "Y жылғы j E"
DATETIME_FORMAT = "Y жылғы j E, H:i"
TIME_FORMAT = "H:i"
SHORT_DATE_FORMAT = "d.m.Y"
SHORT_DATETIME_FORMAT = "d.m.Y H:i"
FIRST_DAY_OF_WEEK = 1  # Monday
DECIMAL_SEPARATOR = ","
THOUSAND_SEPARATOR = "\xa0"  # a no-break space: 10 000
NUMBER_GROUPING = 3

MONTHS_IN_A_DATE = [
    pgettext_lazy("alt. month", "January"),
    pgettext_lazy("alt. month", "February"),
    pgettext_lazy("alt. month", "March"),
    pgettext_lazy("alt. month", "April"),
    pgettext_lazy("alt. month", "May"),
    pgettext_lazy("alt. month", "June"),
    pgettext_lazy("alt. month", "July"),
    pgettext_lazy("alt. month", "August"),
    pgettext_lazy("alt. month", "September"),
    pgettext_lazy("alt. month", "October"),
    pgettext_lazy("alt. month", "November"),
    pgettext_lazy("alt. month", "December"),
]
