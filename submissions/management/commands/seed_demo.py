from __future__ import annotations

import random
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from submissions.campaign import campaign_today
from submissions.choices import AgeGroup, Consent, Language, Region, Status, Teller, ViolenceForm
from submissions.keys import keyring
from submissions.models import Testimony

# Invented, neutral sentences: enough to look like testimonies in a demo, never real ones.
PHRASES = {
    "en": [
        "It started after the wedding, slowly, with rules about where I could go.",
        "He kept my salary card and gave me money only for bread.",
        "My neighbours heard everything and said nothing for years.",
        "I told my mother and she asked me to be patient for the children.",
        "At work my manager would not stop writing to me at night.",
        "I left in winter with two bags and my daughter.",
        "Now I help other women at a crisis centre and I want them to know it can end.",
    ],
    "ru": [
        "Всё началось после свадьбы, постепенно, с правил, куда мне можно ходить.",
        "Он забрал мою зарплатную карту и давал деньги только на хлеб.",
        "Соседи всё слышали и годами молчали.",
        "Я рассказала маме, а она попросила потерпеть ради детей.",
        "На работе начальник писал мне по ночам и не останавливался.",
        "Я ушла зимой с двумя сумками и дочерью.",
        "Сейчас я помогаю другим женщинам в кризисном центре.",
        "Я хочу, чтобы они знали: это может закончиться.",
    ],
    "kk": [
        "Бәрі үйленгеннен кейін басталды, біртіндеп, қайда бара алатыным туралы ережелерден.",
        "Ол менің жалақы картамды алып қойып, тек нанға ақша беретін.",
        "Көршілер бәрін естіді, бірақ жылдар бойы үндемеді.",
        "Анама айттым, ол балалар үшін шыдауымды өтінді.",
        "Жұмыста бастығым түнде жазып, тоқтамады.",
        "Қыста екі сөмке мен қызымды алып кетіп қалдым.",
        "Қазір дағдарыс орталығында басқа әйелдерге көмектесемін, олар мұның бітетінін білсін.",
    ],
}


class Command(BaseCommand):
    help = (
        "Create N invented demo testimonies in every status and language, sealed through the "
        "real path (for demos and benchmarks). Approved ones get a campaign text, which needs "
        "the active private key. Refuses to run without a private key unless every status "
        "asked for is 'new' or 'rejected', and outside debug (UNTOLD_DEBUG) unless given "
        "--outside-debug: invented stories cannot be told apart from real ones."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--count", type=int, required=True)
        parser.add_argument("--status", choices=Status.values, help="give every record this status")
        parser.add_argument("--size", type=int, default=600, help="about this many characters")
        parser.add_argument("--days", type=int, default=16, help="spread over this many days")
        parser.add_argument("--random-seed", type=int, help="repeatable content")
        parser.add_argument(
            "--outside-debug",
            action="store_true",
            help="run on a server outside debug (a demo or benchmark server, never a campaign's)",
        )

    def handle(self, *args, count: int, status: str | None, size: int, **options) -> None:
        if count < 0:
            raise CommandError("--count must not be negative.")
        if not settings.DEBUG and not options["outside_debug"]:
            raise CommandError(
                "This server is not in debug mode, and invented stories cannot be told apart "
                "from real ones once stored. Nothing was created. On a demo or benchmark "
                "server, add --outside-debug."
            )
        statuses = [status] if status else Status.values
        if Status.APPROVED in statuses and not keyring().can_open:
            raise CommandError("Approved records need a campaign text: configure a private key.")
        rng = random.Random(options["random_seed"])  # noqa: S311  (demo content, not security)
        today = campaign_today()
        batch: list[Testimony] = []
        for _ in range(count):
            batch.append(self.make(rng, rng.choice(statuses), size, today, options["days"]))
            if len(batch) == 1000:
                self.save(batch)
        self.save(batch)
        self.stdout.write(f"Created {count} demo testimonies.")

    def make(self, rng, status, size, today, days) -> Testimony:
        language = rng.choice(Language.values)
        testimony = Testimony(
            language=language,
            received_on=today - timedelta(days=rng.randrange(max(days, 1))),
            age_group=rng.choice([*AgeGroup.values, ""]),
            region=rng.choice([*Region.values, ""]),
            teller=rng.choice([*Teller.values, ""]),
            consent=rng.choice(Consent.values),
            status=status,
        )
        testimony.violence_forms = rng.sample(ViolenceForm.values, rng.randint(0, 3))
        text = " ".join(self.sentences(rng, language, size))
        testimony.seal_text(text)
        if status == Status.APPROVED:
            testimony.seal_campaign_text(text)
        return testimony

    def sentences(self, rng, language, size):
        length = 0
        while length < size:
            sentence = rng.choice(PHRASES[language])
            length += len(sentence) + 1
            yield sentence

    def save(self, batch: list[Testimony]) -> None:
        with transaction.atomic():
            Testimony.objects.bulk_create(batch)
        batch.clear()
