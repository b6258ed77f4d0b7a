"""XtraKit records (customers, items, categories, sales) shaped like vendors.md §4.3's examples.

The vendor's type quirks are reproduced on purpose: item `unit_cost`/`item_price` are JSON numbers
but `quantity` is a string; sale money fields and `customer_id` are strings. Timestamps are
Laravel's `YYYY-MM-DD HH:MM:SS`; dates are `YYYY-MM-DD`. Every value comes from the `rng` passed
in, never from the wall clock.
"""

from __future__ import annotations

import random
import string
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

Record = dict[str, Any]

DAY = 86_400
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: base records are created between these instants, in id order
BASE_START = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())
BASE_END = int(datetime(2025, 6, 30, 23, 59, 59, tzinfo=UTC).timestamp())

_FIRST = ("Jane", "Kwame", "Ama", "John", "Efua", "Kofi", "Maria", "Ade", "Chen", "Priya", "Sam")
_LAST = ("Doe", "Mensah", "Owusu", "Smith", "Boateng", "Okafor", "Garcia", "Li", "Patel", "Kim")
#: (country, city, state, dialling code)
_PLACES = (
    ("Ghana", "Accra", "Greater Accra", "+233"),
    ("Ghana", "Kumasi", "Ashanti", "+233"),
    ("Ghana", "Tamale", "Northern", "+233"),
    ("Nigeria", "Lagos", "Lagos", "+234"),
    ("Kenya", "Nairobi", "Nairobi County", "+254"),
    ("South Africa", "Cape Town", "Western Cape", "+27"),
    ("United Kingdom", "Leeds", "West Yorkshire", "+44"),
    ("United States", "Austin", "Texas", "+1"),
)
_STREETS = ("Main Street", "Ring Road", "Station Road", "Market Lane", "Liberation Ave")
_CATEGORY_NAMES = (
    "Laptops", "Phones", "Tablets", "Printers", "Monitors", "Cables", "Chargers", "Furniture",
    "Stationery", "Beverages", "Snacks", "Cleaning", "Soaps", "Clothing", "Shoes", "Bags",
    "Kitchenware", "Lighting", "Hardware", "Paint", "Garden", "Toys", "Books", "Music",
    "Cosmetics", "Pharmacy", "Baby Care", "Pet Toys", "Sports", "Auto Parts", "Networking",
    "Storage", "Cameras", "Audio", "Gaming", "Clocks", "Jewellery", "Spices", "Frozen Food",
    "Bakery",
)  # fmt: skip
_BRANDS = ("HP", "Dell", "Samsung", "Tecno", "Nasco", "Bic", "Nestle", "Unilever", "Ikea", "Sony")
_UNITS = ("pcs", "box", "pack", "kg", "l")
_INVOICE_TYPES = ("pos", "invoice", "storefront", "main", "order")  # both documented sets, §4.6
_PAYMENT_TYPES = ("cash", "card", "mobile-money", "bank-transfer")
_PAYMENT_STATUSES = ("paid", "partial", "draft")
_HEX = "0123456789abcdef"


def timestamp(seconds: int) -> str:
    """`YYYY-MM-DD HH:MM:SS` (UTC) of a Unix time."""
    return (EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")


def day(seconds: int) -> str:
    """`YYYY-MM-DD` (UTC) of a Unix time."""
    return timestamp(seconds)[:10]


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


@dataclass
class Account:
    """The one XtraKit account the sandbox serves, and the unique codes handed out so far."""

    user_id: str
    business_code: str
    customers: int
    categories: int
    item_codes: set[str] = field(default_factory=set)
    invoice_codes: set[str] = field(default_factory=set)

    @classmethod
    def for_seed(cls, seed: int, customers: int, categories: int) -> Account:
        rng = random.Random(f"{seed}:xtrakit:account")
        user_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        return cls(user_id, f"{rng.randrange(10**7, 10**8)}", customers, categories)

    def item_code(self, rng: random.Random) -> str:
        """A fresh 8-character code like `Jce84a50`: a capital letter and 7 hex digits."""
        while True:
            code = rng.choice(string.ascii_uppercase) + "".join(rng.choices(_HEX, k=7))
            if code not in self.item_codes:
                self.item_codes.add(code)
                return code

    def invoice_code(self, rng: random.Random) -> str:
        """A fresh 6-digit invoice code (unique per account, as the add-sale docs require)."""
        if len(self.invoice_codes) >= 800_000:
            raise ValueError("the sandbox ran out of 6-digit invoice codes")
        while True:
            code = str(rng.randrange(100_000, 1_000_000))
            if code not in self.invoice_codes:
                self.invoice_codes.add(code)
                return code

    def customer(self, rng: random.Random, id_: int, created: int, updated: int) -> Record:
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        return {
            "id": id_,
            "user_id": self.user_id,
            "business_code": self.business_code,
            "customer_group_id": rng.randint(1, 5),
            "customer_name": f"{first} {last}",
            "customer_email": f"{first.lower()}.{last.lower()}{id_}@example.com",
            **_contact(rng),
            "created_at": timestamp(created),
            "updated_at": timestamp(updated),
        }

    def category(self, rng: random.Random, id_: int, created: int, updated: int) -> Record:
        base = _CATEGORY_NAMES[(id_ - 1) % len(_CATEGORY_NAMES)]
        rounds = (id_ - 1) // len(_CATEGORY_NAMES)
        return {
            "id": id_,
            "user_id": self.user_id,
            "business_code": self.business_code,
            "category_name": base if rounds == 0 else f"{base} {rounds + 1}",
            "description": f"{base} and accessories",
            "created_at": timestamp(created),
            "updated_at": timestamp(updated),
        }

    def item(self, rng: random.Random, id_: int, created: int, updated: int) -> Record:
        category = rng.randint(1, max(self.categories, 1))
        kind = _CATEGORY_NAMES[(category - 1) % len(_CATEGORY_NAMES)].removesuffix("s")
        cost = rng.randrange(100, 200_000)
        quantity = rng.randrange(0, 500)
        return {
            "id": id_,
            "item_code": self.item_code(rng),
            "item_name": f"{rng.choice(_BRANDS)} {kind}",
            "category_id": category,
            "unit": rng.choice(_UNITS),
            "unit_cost": cost / 100,
            "item_price": cost * rng.randrange(110, 200) // 100 / 100,
            "quantity": str(quantity),
            "online": rng.randint(0, 1),
            "status": "in-stock" if quantity else "out-of-stock",
            "sku": f"{kind.upper().replace(' ', '')[:6]}{id_:03d}",
            "created_at": timestamp(created),
            "updated_at": timestamp(updated),
        }

    def sale(self, rng: random.Random, id_: int, created: int, updated: int) -> Record:
        # a customer created before the sale: ids grow with creation time
        share = (created - BASE_START) / (BASE_END - BASE_START)
        known = max(1, min(self.customers, round(self.customers * share)))
        sub_total = rng.randrange(500, 500_000)
        discount = sub_total * rng.choice((0, 0, 5, 10)) // 100
        tax = (sub_total - discount) * 15 // 100
        total = sub_total - discount + tax
        due = created + rng.randrange(0, 31) * DAY
        return {
            "id": id_,
            "user_id": self.user_id,
            "business_code": self.business_code,
            "invoice_code": self.invoice_code(rng),
            "invoice_number": f"INV-{id_:06d}",
            "customer_id": str(rng.randint(1, known)),
            "invoice_type": rng.choice(_INVOICE_TYPES),
            "payment_type": rng.choice(_PAYMENT_TYPES),
            "sub_total_amount": _money(sub_total),
            "discount_amount": _money(discount),
            "tax_amount": _money(tax),
            "total_amount": _money(total),
            **_payment(rng, rng.choice(_PAYMENT_STATUSES), total, created, due),
            "due_date": day(due),
            "created_at": timestamp(created),
            "updated_at": timestamp(updated),
        }

    def changed(self, collection: str, rng: random.Random, old: Record, at: int) -> Record:
        """A new version of `old` as an edit at `at` would leave it."""
        new = dict(old, updated_at=timestamp(at))
        if collection == "customers":
            new.update(_contact(rng))
        elif collection == "categories":
            new["description"] = f"{old['category_name']}, range {rng.randrange(1, 100)}"
        elif collection == "items":
            quantity = rng.randrange(0, 500)
            cost = round(old["unit_cost"] * 100 * rng.randrange(90, 121) / 100)
            new["unit_cost"] = cost / 100
            new["item_price"] = cost * rng.randrange(110, 200) // 100 / 100
            new["quantity"] = str(quantity)
            new["status"] = "in-stock" if quantity else "out-of-stock"
        elif collection == "sales":
            # drafts get a part payment, part payments get settled, paid sales change method
            status = {"draft": "partial", "partial": "paid"}.get(old["payment_status"])
            if status is None:
                new["payment_type"] = rng.choice(_PAYMENT_TYPES)
            else:
                total = int(old["total_amount"].replace(".", ""))
                new.update(_payment(rng, status, total, at, at))
        return new


def _contact(rng: random.Random) -> Record:
    country, city, state, code = rng.choice(_PLACES)
    return {
        "customer_phone": f"{code}{rng.randrange(200_000_000, 999_999_999)}",
        "customer_country": country,
        "customer_city": city,
        "customer_state": state,
        "address1": f"{rng.randrange(1, 400)} {rng.choice(_STREETS)}",
    }


def _payment(rng: random.Random, status: str, total: int, created: int, due: int) -> Record:
    """`payment_status`, `amount_paid` (a money string) and `payment_date` (null for drafts)."""
    if status == "draft":
        return {"payment_status": status, "amount_paid": _money(0), "payment_date": None}
    paid = total if status == "paid" else total * rng.randrange(10, 90) // 100
    paid_on = created + rng.randrange(0, max(due - created, 0) + 1)
    return {"payment_status": status, "amount_paid": _money(paid), "payment_date": day(paid_on)}
