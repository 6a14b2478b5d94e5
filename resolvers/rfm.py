from __future__ import annotations

import datetime as dt
from functools import partial

from analytics.rfm import RfmResult, score_rfm
from resolvers._utils import compute
from resolvers.context import Context


async def resolve_rfm(context: Context, dataset: str | None, as_of: dt.date | None) -> RfmResult:
    return await compute(context, dataset, ("rfm", as_of), partial(score_rfm, as_of=as_of))
