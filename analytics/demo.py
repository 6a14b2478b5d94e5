"""A realistic, deterministic demo store: the ``demo`` dataset.

Four calendar years of a store's customers and orders, with the patterns the
analytics are meant to find: growth, Christmas peaks and summer dips, and
customers who stay loyal, lapse, churn or buy only once. Everything derives
from the seed and a fixed calendar, never from the wall clock.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from analytics import db
from analytics.db import DatasetSource, DatasetTables, ProgressCallback, PublishCallback

START = dt.date(2022, 1, 1)
END = dt.date(2025, 12, 31)

REGIONS: dict[str, tuple[str, ...]] = {
    "North": ("United States", "Canada"),
    "South": ("United States", "Mexico"),
    "East": ("United States",),
    "West": ("United States", "Canada"),
    "Central": ("United States",),
}
_REGION_WEIGHTS = np.array([0.22, 0.2, 0.24, 0.2, 0.14])
_REPS_PER_REGION = (3, 2, 3, 2, 2)
_REP_NAMES = (
    "Alice Morgan", "Ben Carter", "Chloe Nguyen", "Daniel Reyes", "Emma Schultz",
    "Farid Haddad", "Grace Kim", "Hugo Martin", "Isabel Rossi", "Jamal Wright",
    "Keiko Tanaka", "Liam O'Brien",
)  # fmt: skip

# Category, typical unit price, number of products, extra quantity per line.
CATEGORIES: tuple[tuple[str, float, int, float], ...] = (
    ("Electronics", 180.0, 22, 0.1),
    ("Home & Kitchen", 45.0, 24, 0.4),
    ("Clothing", 38.0, 26, 0.6),
    ("Sports & Outdoors", 55.0, 18, 0.3),
    ("Beauty", 22.0, 16, 0.9),
    ("Books", 16.0, 18, 0.5),
    ("Toys & Games", 30.0, 14, 0.5),
    ("Grocery", 7.5, 12, 2.0),
)
_PRODUCT_WORDS: dict[str, tuple[str, ...]] = {
    "Electronics": ("Headphones", "Speaker", "Tablet", "Smartwatch", "Charger", "Camera"),
    "Home & Kitchen": ("Blender", "Pan Set", "Kettle", "Knife Block", "Lamp", "Towel Set"),
    "Clothing": ("T-Shirt", "Jeans", "Jacket", "Sweater", "Scarf", "Sneakers"),
    "Sports & Outdoors": ("Yoga Mat", "Tent", "Backpack", "Dumbbells", "Bottle", "Bike Light"),
    "Beauty": ("Face Cream", "Shampoo", "Lip Balm", "Perfume", "Serum", "Soap"),
    "Books": ("Cookbook", "Novel", "Atlas", "Biography", "Guide", "Poetry"),
    "Toys & Games": ("Puzzle", "Board Game", "Blocks", "Plush Bear", "Card Game", "Kite"),
    "Grocery": ("Coffee", "Tea", "Olive Oil", "Chocolate", "Honey", "Granola"),
}
_ADJECTIVES = ("Classic", "Premium", "Eco", "Compact", "Deluxe", "Smart", "Everyday", "Pro")

_FIRST_NAMES = (
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
    "Sarah", "Carlos", "Karen", "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Sofia",
    "Mark", "Ana", "Wei", "Emily", "Raj", "Aisha", "Kevin", "Olivia", "Luis", "Mia", "Omar",
    "Chen", "Fatima", "Noah",
)  # fmt: skip
_LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
    "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson",
    "Thomas", "Taylor", "Moore", "Jackson", "Lee", "Perez", "Thompson", "White", "Harris",
    "Clark", "Lewis", "Walker", "Hall", "Young", "Allen", "Patel", "Wang", "Kim", "Singh",
    "Nguyen", "Khan", "Ali", "Cohen", "Silva", "Murphy",
)  # fmt: skip
_EMAIL_DOMAINS = ("example.com", "mail.example.org", "inbox.example.net")

# Behaviour types: share of customers, orders per year, satisfaction mean.
BEHAVIOURS: tuple[tuple[str, float, float, float], ...] = (
    ("loyal", 0.15, 5.0, 4.4),
    ("regular", 0.33, 1.7, 3.8),
    ("lapsing", 0.2, 2.6, 3.2),
    ("churned", 0.17, 2.4, 2.5),
    ("one-time", 0.15, 0.0, 3.0),
)
# Nov/Dec peak, summer dip.
_MONTH_WEIGHTS = np.array([0.9, 0.85, 0.95, 0.95, 1.0, 0.85, 0.72, 0.78, 0.95, 1.05, 1.35, 1.6])
_YEARLY_GROWTH = 0.08


def generate_demo_tables(customers: int = 2000, seed: int = 42) -> DatasetTables:
    """Generate the demo store's tables; the same seed always gives the same tables.

    Parameters
    ----------
    customers
        Number of customers (about 10 order lines each).
    seed
        Random seed.

    Returns
    -------
    DatasetTables
        Orders from 2022-01-01 to 2025-12-31.
    """
    if customers < 1:
        raise ValueError("customers must be at least 1")
    rng = np.random.default_rng(seed)
    days = pd.date_range(START, END, freq="D", unit="ns")
    day_count = len(days)

    products = _products(rng)
    sales_reps = _sales_reps()
    people = _customers(rng, customers, days)

    # Purchases follow "seasonal time": the cumulative day weight. Sampling
    # uniformly (or with exponential decay) in seasonal time and mapping back
    # gives seasonality for every customer at once, without per-customer loops.
    weights = _MONTH_WEIGHTS[days.month.to_numpy() - 1] * np.where(
        days.day_of_week.to_numpy() >= 5, 1.15, 1.0
    )
    weights = weights * (1 + _YEARLY_GROWTH) ** (np.arange(day_count) / 365.25)
    cumulative = np.concatenate([[0.0], np.cumsum(weights)])
    year_weight = weights.mean() * 365.25

    first_day = people.first_day
    span_start = cumulative[first_day + 1]
    span_end = cumulative[people.last_day + 1]
    span = np.maximum(span_end - span_start, 0.0)
    decay = people.decay_per_year / year_weight
    safe_decay = np.where(decay > 0, decay, 1.0)
    exposure = np.where(decay > 0, -np.expm1(-safe_decay * span) / safe_decay, span)
    repeat_counts = rng.poisson(people.rate * exposure / year_weight)
    order_counts = 1 + repeat_counts

    owner = np.repeat(np.arange(customers), order_counts)
    is_first = np.zeros(len(owner), dtype=bool)
    is_first[np.concatenate([[0], np.cumsum(order_counts)[:-1]])] = True
    u = rng.random(len(owner))
    o_decay, o_safe = decay[owner], safe_decay[owner]
    offset = np.where(
        o_decay > 0,
        -np.log1p(-u * -np.expm1(-o_safe * span[owner])) / o_safe,
        u * span[owner],
    )
    order_day = np.searchsorted(cumulative, span_start[owner] + offset, side="left") - 1
    order_day = np.clip(order_day, first_day[owner], day_count - 1)
    order_day = np.where(is_first, first_day[owner], order_day)

    chronological = np.lexsort((owner, order_day))
    owner, order_day = owner[chronological], order_day[chronological]
    order_total = len(owner)

    line_counts = 1 + rng.poisson(1.5, order_total)
    line_order = np.repeat(np.arange(order_total), line_counts)
    line_total = len(line_order)
    popularity = products["popularity"].to_numpy()
    product_index = rng.choice(len(products), size=line_total, p=popularity / popularity.sum())
    extra_quantity = products["extra_quantity"].to_numpy()[product_index]
    quantity = 1 + rng.poisson(extra_quantity)
    list_price = products["unit_price"].to_numpy()[product_index]
    line_month = days.month.to_numpy()[order_day[line_order]]
    discount = np.where(
        rng.random(line_total) < np.where(line_month == 11, 0.4, 0.12),
        rng.choice([0.1, 0.15, 0.2], size=line_total),
        0.0,
    )
    unit_price = np.round(list_price * (1 - discount), 2)
    amount = np.round(quantity * unit_price, 2)
    totals = np.round(np.bincount(line_order, weights=amount, minlength=order_total), 2)

    progress_through_calendar = order_day / (day_count - 1)
    channel_draw = rng.random(order_total)
    online_share = 0.5 + 0.2 * progress_through_calendar
    channel = np.where(
        channel_draw < online_share,
        "online",
        np.where(channel_draw < online_share + (1 - online_share) * 0.7, "store", "phone"),
    )
    status = np.where(rng.random(order_total) < 0.04, "returned", "completed")

    order_ids = np.arange(1, order_total + 1)
    orders = pd.DataFrame(
        {
            "id": order_ids,
            "external_id": pd.Series(order_ids).astype("str").str.zfill(7).radd("SO-").to_numpy(),
            "customer_id": owner + 1,
            "order_date": days.to_numpy()[order_day],
            "status": status.astype(object),
            "channel": channel.astype(object),
            "sales_rep_id": people.sales_rep_id[owner],
            "total": totals,
        }
    )
    order_items = pd.DataFrame(
        {
            "id": np.arange(1, line_total + 1),
            "order_id": line_order + 1,
            "product_id": product_index + 1,
            "quantity": quantity.astype("float64"),
            "unit_price": unit_price,
            "amount": amount,
        }
    )
    return DatasetTables(
        customers=people.frame,
        products=products[["id", "sku", "name", "category", "unit_price"]],
        sales_reps=sales_reps,
        orders=orders,
        order_items=order_items,
    )


def create_demo_dataset(
    engine: Engine,
    dataset_id: str = "demo",
    customers: int = 2000,
    seed: int = 42,
    progress: ProgressCallback | None = None,
    publish: PublishCallback | None = None,
) -> db.Dataset:
    """Generate the demo store and write it as ``dataset_id`` (replacing it).

    Parameters
    ----------
    engine
        Database to write to.
    dataset_id
        Dataset to create or replace.
    customers
        Number of customers.
    seed
        Random seed.
    progress
        Called with ``(fraction, stage)``: ``generating``, then ``writing ...``.
    publish
        Called with the dataset and its tables once the write has committed.

    Returns
    -------
    db.Dataset
    """
    if progress is not None:
        progress(0.0, "generating")
    tables = generate_demo_tables(customers, seed)

    def writing(fraction: float, stage: str) -> None:
        if progress is not None:
            progress(0.3 + 0.7 * fraction, stage)

    dataset = db.replace_dataset(
        engine,
        dataset_id,
        "Demo store",
        tables,
        kind="demo",
        source=DatasetSource(format="demo", rows_read=len(tables.order_items)),
        progress=writing,
    )
    if publish is not None:
        publish(dataset, tables)
    return dataset


class _People:
    def __init__(
        self,
        frame: pd.DataFrame,
        first_day: np.ndarray,
        last_day: np.ndarray,
        rate: np.ndarray,
        decay_per_year: np.ndarray,
        sales_rep_id: np.ndarray,
    ) -> None:
        self.frame = frame
        self.first_day = first_day
        self.last_day = last_day
        self.rate = rate
        self.decay_per_year = decay_per_year
        self.sales_rep_id = sales_rep_id


def _customers(rng: np.random.Generator, count: int, days: pd.DatetimeIndex) -> _People:
    day_count = len(days)
    # Acquisition grows over time: signups sampled by inverse CDF of a rising rate.
    signup_weights = (
        np.exp(np.linspace(0.0, 0.8, day_count)) * _MONTH_WEIGHTS[days.month.to_numpy() - 1]
    )
    signup_cdf = np.cumsum(signup_weights) / signup_weights.sum()
    signup_day = np.sort(np.searchsorted(signup_cdf, rng.random(count), side="right"))
    signup_day = np.minimum(signup_day, day_count - 1)
    first_day = np.minimum(signup_day + rng.geometric(0.3, count) - 1, day_count - 1)

    shares = np.array([share for _, share, _, _ in BEHAVIOURS])
    behaviour = rng.choice(len(BEHAVIOURS), size=count, p=shares / shares.sum())
    names = np.array([name for name, _, _, _ in BEHAVIOURS])[behaviour]
    rate = np.array([rate for _, _, rate, _ in BEHAVIOURS])[behaviour] * rng.gamma(4.0, 0.25, count)
    decay_per_year = np.where(names == "lapsing", rng.uniform(0.8, 2.0, count), 0.0)

    last_day = np.full(count, day_count - 1)
    churned = names == "churned"
    latest_churn = np.maximum(first_day + 30, day_count - 200)
    churn_day = first_day + (rng.random(count) * (latest_churn - first_day)).astype(np.int64)
    last_day = np.where(churned, np.minimum(churn_day, day_count - 1), last_day)
    last_day = np.where(names == "one-time", first_day, last_day)

    region_index = rng.choice(len(REGIONS), size=count, p=_REGION_WEIGHTS)
    region_names = np.array(list(REGIONS))
    country_choice = rng.random(count)
    countries = np.empty(count, dtype=object)
    rep_offsets = np.concatenate([[0], np.cumsum(_REPS_PER_REGION)[:-1]])
    rep_draw = rng.random(count)
    sales_rep_id = np.empty(count, dtype=np.int64)
    for index, region_countries in enumerate(REGIONS.values()):
        members = region_index == index
        # Most customers are domestic; the region's other countries share the rest.
        share = np.clip((country_choice[members] - 0.8) / 0.2, 0.0, 0.999)
        picks = np.where(
            country_choice[members] < 0.8,
            0,
            1 + (share * (len(region_countries) - 1)).astype(np.int64),
        )
        picks = np.minimum(picks, len(region_countries) - 1)
        countries[members] = np.array(region_countries, dtype=object)[picks]
        sales_rep_id[members] = (
            rep_offsets[index] + 1 + (rep_draw[members] * _REPS_PER_REGION[index]).astype(np.int64)
        )

    satisfaction_mean = np.array([mean for _, _, _, mean in BEHAVIOURS])[behaviour]
    satisfaction = np.clip(np.round(rng.normal(satisfaction_mean, 0.8)), 1, 5)
    satisfaction = np.where(rng.random(count) < 0.1, np.nan, satisfaction)

    first = np.array(_FIRST_NAMES, dtype=object)[rng.integers(0, len(_FIRST_NAMES), count)]
    last = np.array(_LAST_NAMES, dtype=object)[rng.integers(0, len(_LAST_NAMES), count)]
    domain = np.array(_EMAIL_DOMAINS, dtype=object)[rng.integers(0, len(_EMAIL_DOMAINS), count)]
    ids = np.arange(1, count + 1)
    id_text = pd.Series(ids).astype("str")
    first_s, last_s = pd.Series(first, dtype="str"), pd.Series(last, dtype="str")
    emails = (
        first_s.str.lower()
        + "."
        + last_s.str.lower().str.replace("'", "", regex=False)
        + id_text
        + "@"
        + pd.Series(domain, dtype="str")
    )
    frame = pd.DataFrame(
        {
            "id": ids,
            "external_id": id_text.str.zfill(6).radd("C").to_numpy(dtype=object),
            "name": (first_s + " " + last_s).to_numpy(dtype=object),
            "email": emails.to_numpy(dtype=object),
            "region": region_names[region_index].astype(object),
            "country": countries,
            "signup_date": days.to_numpy()[signup_day],
            "satisfaction_score": satisfaction,
        }
    )
    return _People(frame, first_day, last_day, rate, decay_per_year, sales_rep_id)


def _products(rng: np.random.Generator) -> pd.DataFrame:
    rows: list[dict[str, object]] = []
    for category, typical_price, count, extra_quantity in CATEGORIES:
        words = _PRODUCT_WORDS[category]
        prefix = category[:3].upper()
        for number in range(count):
            adjective = _ADJECTIVES[number % len(_ADJECTIVES)]
            noun = words[(number // len(_ADJECTIVES) + number) % len(words)]
            rows.append(
                {
                    "sku": f"{prefix}-{1000 + number}",
                    "name": f"{adjective} {noun}",
                    "category": category,
                    "typical_price": typical_price,
                    "extra_quantity": extra_quantity,
                }
            )
    products = pd.DataFrame(rows)
    products.insert(0, "id", np.arange(1, len(products) + 1))
    price = products["typical_price"].to_numpy() * rng.lognormal(0.0, 0.45, len(products))
    products["unit_price"] = np.round(np.maximum(price, 1.0), 0) - 0.01
    # A few best sellers and a long tail.
    products["popularity"] = rng.pareto(1.5, len(products)) + 0.2
    return products.drop(columns="typical_price")


def _sales_reps() -> pd.DataFrame:
    regions = np.repeat(np.array(list(REGIONS), dtype=object), _REPS_PER_REGION)
    return pd.DataFrame(
        {
            "id": np.arange(1, len(_REP_NAMES) + 1),
            "name": np.array(_REP_NAMES, dtype=object),
            "region": regions,
        }
    )
