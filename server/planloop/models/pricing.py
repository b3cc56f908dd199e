"""What a model call cost, in USD, from its token usage.

One table keyed by model-id prefix, so dated snapshots (``claude-opus-5-5-20260923``)
price like their family and a new family is visibly unpriced rather than silently
priced as something else. Prices change; ``planloop.toml`` can override any entry
(``ModelConfig.prices``) without a release. The cost shown is an estimate from the
API's own usage numbers, never a bill.

Figures: USD per million tokens, from the Anthropic model pages and pricing page
(platform.claude.com, checked November 2026). ``cache_write`` is the 5-minute rate,
the only cache lifetime the adapter asks for.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from planloop.models.base import Usage

FIELDS = ("input", "output", "cache_write", "cache_read")


@dataclass(frozen=True)
class Price:
    """USD per million tokens for one model family."""

    input: float
    output: float
    cache_write: float
    cache_read: float
    #: above this many prompt tokens (input + cache reads + cache writes) the whole
    #: request is billed at ``long_prompt`` rates (Haiku 5.5 has two bands).
    long_prompt_threshold: int | None = None
    long_prompt: Price | None = None


def _p(i: float, o: float, w: float, r: float) -> Price:
    return Price(input=i, output=o, cache_write=w, cache_read=r)


PRICES: dict[str, Price] = {
    # Fable / Mythos (Mythos shares Fable's price card).
    "claude-fable-5-2": _p(8, 40, 10, 0.20),
    "claude-mythos-5-2": _p(8, 40, 10, 0.20),
    "claude-fable-5-1": _p(10, 50, 12.50, 0.25),
    "claude-mythos-5-1": _p(10, 50, 12.50, 0.25),
    "claude-fable-5": _p(10, 50, 12.50, 1.00),
    "claude-mythos-5": _p(10, 50, 12.50, 1.00),
    "claude-mythos-preview": _p(10, 50, 12.50, 1.00),
    # Opus
    "claude-opus-5-5": _p(4, 20, 5, 0.20),
    "claude-opus-5": _p(5, 25, 6.25, 0.50),
    "claude-opus-4-8": _p(5, 25, 6.25, 0.50),
    "claude-opus-4-7": _p(5, 25, 6.25, 0.50),
    "claude-opus-4-6": _p(5, 25, 6.25, 0.50),
    "claude-opus-4-5": _p(5, 25, 6.25, 0.50),
    "claude-opus-4": _p(15, 75, 18.75, 1.50),  # Opus 4 and 4.1
    # Sonnet
    "claude-sonnet-5-5": _p(2, 10, 2.50, 0.10),
    "claude-sonnet-5": _p(2, 10, 2.50, 0.20),
    "claude-sonnet-4": _p(3, 15, 3.75, 0.30),  # Sonnet 4, 4.5, 4.6
    # Haiku
    "claude-haiku-5-5": Price(
        input=0.10,
        output=0.50,
        cache_write=0.125,
        cache_read=0.01,
        long_prompt_threshold=100_000,
        long_prompt=_p(0.50, 2.50, 0.625, 0.05),
    ),
    "claude-haiku-4-5": _p(1, 5, 1.25, 0.10),
    "claude-3-5-haiku": _p(0.80, 4, 1, 0.08),
}


def _longest_prefix(model_id: str, table: Mapping[str, Price]) -> Price | None:
    best = ""
    for prefix in table:
        if model_id.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return table[best] if best else None


def price_table(overrides: Mapping[str, Mapping[str, float]] | None = None) -> dict[str, Price]:
    """The built-in table with config overrides applied.

    An override may give only some fields; the rest come from the built-in entry its
    key falls under (a partial override of an unknown family starts from zero).
    Raises ValueError naming the bad key or field, because a typo here would
    otherwise quietly misreport spend.
    """
    table = dict(PRICES)
    for prefix, fields in (overrides or {}).items():
        if not isinstance(prefix, str) or not prefix.strip():
            raise ValueError(f"price override key {prefix!r} must be a model id prefix")
        if not isinstance(fields, Mapping):
            raise ValueError(
                f"price override for {prefix!r} must be a table of "
                f"{', '.join(FIELDS)} (USD per million tokens)"
            )
        unknown = sorted(set(fields) - set(FIELDS))
        if unknown:
            raise ValueError(
                f"price override for {prefix!r} has unknown field(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(FIELDS)}"
            )
        values: dict[str, float] = {}
        for name, value in fields.items():
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value < 0
            ):
                raise ValueError(
                    f"price override {prefix}.{name} = {value!r} must be a non-negative "
                    "number (USD per million tokens)"
                )
            values[name] = float(value)
        base = _longest_prefix(prefix, table) or _p(0, 0, 0, 0)
        # An explicit override is one flat price: drop any long-prompt band it replaces.
        table[prefix] = replace(base, long_prompt_threshold=None, long_prompt=None, **values)
    return table


def price_for(
    model_id: str, overrides: Mapping[str, Mapping[str, float]] | None = None
) -> Price | None:
    """The price for ``model_id`` by longest matching prefix, or None if unpriced."""
    return _longest_prefix(model_id, price_table(overrides))


def is_priced(model_id: str, overrides: Mapping[str, Mapping[str, float]] | None = None) -> bool:
    """False means cost_usd reports 0 for this model: callers should say "unpriced"."""
    return price_for(model_id, overrides) is not None


def cost_usd(
    model_id: str,
    usage: Usage,
    overrides: Mapping[str, Mapping[str, float]] | None = None,
) -> float:
    """USD for one call; 0.0 for an unpriced model (check ``is_priced`` to flag it)."""
    price = price_for(model_id, overrides)
    if price is None:
        return 0.0
    prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    if (
        price.long_prompt is not None
        and price.long_prompt_threshold is not None
        and prompt > price.long_prompt_threshold
    ):
        price = price.long_prompt
    return (
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + usage.cache_write_tokens * price.cache_write
        + usage.cache_read_tokens * price.cache_read
    ) / 1_000_000
