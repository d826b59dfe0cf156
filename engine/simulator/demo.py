"""Demo mode's story: three days of WhatsApp chats at a small bakery, failures included.

A newcomer should see the whole pipeline at work on the first run: photos with captions, stickers,
voice notes, a video that downloads slowly enough to show progress, documents, a location, a
reaction, a voice note that only arrives on the automatic retry, and four media that fail for the
reasons real ones do (deleted by the sender, too large, bytes that lie about their type, too big
for Meta itself: error 131052), each with a reason the console can show next to Retry.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from engine.simulator import payloads
from engine.simulator.faults import Fault
from engine.simulator.graph import CloudSimulator
from engine.simulator.ooxml import DOCX, PPTX, XLSX


@dataclass(frozen=True)
class Contact:
    """A customer or supplier: their WhatsApp id (the phone number, digits only) and profile name."""

    wa_id: str
    name: str


CONTACTS: dict[str, Contact] = {
    "amelie": Contact("33612345678", "Amélie Laurent"),
    "tomas": Contact("351912345678", "Tomás Oliveira"),
    "priya": Contact("919812345678", "Priya Sharma"),
    "kenji": Contact("819012345678", "Kenji Watanabe"),
    "sofia": Contact("393471234567", "Sofia Rossi"),
    "lukas": Contact("4915112345678", "Lukas Becker"),
    "olivia": Contact("447700900123", "Olivia Bennett"),
    "mateo": Contact("34612345678", "Mateo García"),
    "aisha": Contact("2348031234567", "Aisha Bello"),
    "chen": Contact("6591234567", "Chen Wei"),
    "fatima": Contact("212612345678", "Fatima Zahra"),
    "noah": Contact("14155550123", "Noah Williams"),
    "emma": Contact("46701234567", "Emma Johansson"),
}


@dataclass(frozen=True)
class Text:
    body: str


@dataclass(frozen=True)
class Media:
    kind: str
    mime: str
    caption: str | None = None
    filename: str | None = None
    fault: Fault | None = None
    voice: bool | None = None


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float
    place: str
    address: str


@dataclass(frozen=True)
class Reaction:
    to: str  # the label of the step being reacted to
    emoji: str


@dataclass(frozen=True)
class TooBigForMeta:
    """Meta could not fetch the customer's file itself: a 131052 error, no media id at all."""


@dataclass(frozen=True)
class Reply:
    """The owner answering from the WhatsApp Business app on their phone: an echo, then read by the customer."""

    body: str


Action = Text | Media | Location | Reaction | TooBigForMeta | Reply


@dataclass(frozen=True)
class Step:
    minutes_ago: float
    who: str
    action: Action
    label: str | None = None


JPEG, OPUS = "image/jpeg", "audio/ogg; codecs=opus"

SCRIPT: tuple[Step, ...] = (
    Step(4290, "amelie", Text("Bonjour! Do you still make the strawberry layer cake? "
                              "I'd love one for Saturday 🎂")),
    Step(4286, "amelie", Media("image", JPEG, caption="Something like this, for 12 people")),
    Step(4250, "amelie", Reply("Bonjour Amélie! Yes, a 12-person strawberry layer cake is €48. "
                               "Pickup Saturday at 10:00?")),
    Step(4203, "amelie", Text("Perfect, pickup at 10:00 works. Merci beaucoup!")),
    Step(3902, "tomas", Media("audio", OPUS, voice=True, fault=Fault(fail_first=1))),  # recovers on retry
    Step(3899, "tomas", Text("Sorry for the voice note, I'm driving 🙈 Are you open Sunday morning?")),
    Step(3010, "priya", Text("Hi! We're getting married in October and would love a cake tasting 💐")),
    Step(3006, "priya", Media("document", PPTX, caption="Our three favourite designs",
                              filename="Wedding cake ideas.pptx")),
    Step(3004, "priya", Media("image", JPEG, caption="This one is our favourite!"), label="priya-photo"),
    Step(2712, "priya", Reaction("priya-photo", "❤️")),
    Step(2690, "priya", Reply("Congratulations! 🎉 Tastings are on Tuesdays at 16:00, shall I book you in?")),
    Step(2505, "kenji", Text("The cinnamon rolls were amazing, thank you!")),
    Step(2504, "kenji", Media("sticker", "image/webp")),
    Step(2110, "sofia", Text("Could you deliver a birthday cake to our office on Friday?")),
    Step(2108, "sofia", Location(38.7101, -9.1366, "Rossi & Partners", "Rua Augusta 100, 1100-053 Lisboa")),
    Step(2106, "sofia", Text("3rd floor, just ask for me at reception 😊")),
    Step(1805, "lukas", Text("Guten Tag! Here is next month's price list for flour and butter.")),
    Step(1804, "lukas", Media("document", XLSX, filename="Price list July.xlsx")),
    Step(1441, "amelie", Media("document", "application/pdf", filename="Invoice 2024-0187.pdf",
                               caption="Could you add our VAT number to this invoice?")),
    Step(1302, "olivia", Text("The cake was a hit at Mia's party!! Look at her face 😍")),
    Step(1300, "olivia", Media("video", "video/mp4", caption="Happy 6th birthday, Mia!",
                               fault=Fault(slow_bps=8_000))),  # slow enough to show progress
    Step(905, "mateo", Media("image", JPEG, caption="Is this the sourdough you had last week?",
                             fault=Fault.preset("404"))),  # deleted by the sender
    Step(903, "mateo", Text("Oops, I deleted that photo by mistake, sorry!")),
    Step(897, "mateo", Media("audio", OPUS, voice=True)),
    Step(604, "aisha", Text("Here's the video of the venue so you can plan the dessert table")),
    Step(602, "aisha", Media("video", "video/mp4", caption="Venue walkthrough",
                             fault=Fault.preset("oversize"))),
    Step(302, "chen", Media("image", JPEG, caption="Photo of the receipt",
                            fault=Fault.preset("lying_mime"))),
    Step(299, "chen", Text("Did the photo come through? My phone is acting up")),
    Step(121, "fatima", TooBigForMeta()),
    Step(119, "fatima", Text("I tried to send the whole tasting video, I think it's too big 😅")),
    Step(62, "noah", Text("Hi there, we'd like catering for a company breakfast next Thursday.")),
    Step(60, "noah", Media("document", DOCX, filename="Catering request - Brightline.docx")),
    Step(31, "emma", Media("image", "image/png", caption="Is the weekend menu still valid? 🥐")),
    Step(12, "noah", Text("40 people, around 8:30. Gluten-free options would be great!")),
    Step(9, "noah", Reply("Happy to help, Noah! I'll send you a quote with gluten-free options within the hour.")),
    Step(6, "emma", Media("audio", "audio/mpeg", voice=False)),
    Step(2, "emma", Text("That's the jingle for our radio spot, hope you like it! "
                         "Also, do you have oat milk for the flat white?")),
)
"""The demo conversation, oldest first once sorted; minutes_ago is relative to the scenario's now."""


class DemoScenario:
    """Registers the demo's media on a simulator and yields its webhook bodies in time order.

    With a `seed`, media ids, wamids and timestamp jitter repeat exactly (screenshots, tests);
    without one every run is new, so running the demo twice never collides with stored wamids.
    """

    def __init__(self, *, now: float | None = None, seed: int | None = None,
                 phone_number_id: str = payloads.DEFAULT_PHONE_NUMBER_ID,
                 display_phone_number: str = payloads.DEFAULT_DISPLAY_PHONE_NUMBER,
                 waba_id: str = payloads.DEFAULT_WABA_ID) -> None:
        self.now = time.time() if now is None else now
        self._rng = random.Random(seed)
        self._business = {"phone_number_id": phone_number_id,
                          "display_phone_number": display_phone_number, "waba_id": waba_id}
        self.faults: dict[str, Fault] = {}
        """media id -> its fault, for every media registered that will misbehave."""
        self.media_ids: list[str] = []

    def events(self, sim: CloudSimulator) -> Iterator[dict[str, Any]]:
        """Webhook bodies oldest first; each media is registered on `sim` just before its body."""
        wamids: dict[str, str] = {}
        for step in sorted(SCRIPT, key=lambda s: -s.minutes_ago):
            contact = CONTACTS[step.who]
            jitter = self._rng.uniform(0, 40)
            wamid = payloads.new_wamid(contact.wa_id, self._rng)
            sender: payloads.MessageFields = {
                "wa_id": contact.wa_id, "name": contact.name, "wamid": wamid,
                "timestamp": int(self.now - step.minutes_ago * 60 + jitter), **self._business,
            }
            if step.label:
                wamids[step.label] = wamid
            yield self._body(sim, step.action, sender, wamids)
            if isinstance(step.action, Reply):
                yield payloads.status_update(wamid, "read", recipient_id=contact.wa_id,
                                             timestamp=sender["timestamp"] + 60, **self._business)

    def _body(self, sim: CloudSimulator, action: Action, sender: payloads.MessageFields,
              wamids: dict[str, str]) -> dict[str, Any]:
        if isinstance(action, Text):
            return payloads.text_message(action.body, **sender)
        if isinstance(action, Location):
            return payloads.location_message(action.latitude, action.longitude, place=action.place,
                                             address=action.address, **sender)
        if isinstance(action, Reaction):
            return payloads.reaction_message(wamids[action.to], action.emoji, **sender)
        if isinstance(action, TooBigForMeta):
            return payloads.error_message_131052(**sender)
        if isinstance(action, Reply):
            return payloads.echo_message(action.body, **sender)
        media_id = self._new_media_id()
        registered = sim.add_media(media_id, action.mime, fault=action.fault)
        if action.fault is not None:
            self.faults[media_id] = action.fault
        return payloads.media_message(action.kind, media_id, action.mime, caption=action.caption,
                                      filename=action.filename, sha256=registered.sha256_base64,
                                      voice=action.voice, **sender)

    def _new_media_id(self) -> str:
        while True:
            media_id = str(self._rng.randrange(10**15, 10**16))  # Graph media ids: 15-16 digits
            if media_id not in self.media_ids:
                self.media_ids.append(media_id)
                return media_id


def demo_events(sim: CloudSimulator, *, now: float | None = None,
                seed: int | None = None) -> Iterator[dict[str, Any]]:
    """The demo's webhook bodies, oldest first, with every media registered on `sim`."""
    return DemoScenario(now=now, seed=seed).events(sim)
