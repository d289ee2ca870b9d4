"""English dates as read in Kazakhstan: day, month, year and a 24-hour clock
("10 December 2026, 23:59"), not Django's American "Dec. 10, 2026, 11:59 p.m."."""

DATE_FORMAT = "j F Y"
DATETIME_FORMAT = "j F Y, H:i"
TIME_FORMAT = "H:i"
