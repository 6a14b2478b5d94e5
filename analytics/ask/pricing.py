"""What a question cost: model tokens priced per thousand, input and output apart."""

from __future__ import annotations

from dataclasses import dataclass

from analytics.ask.providers import Usage

# A list price of a current model, as the issue asks; operators set their own.
DEFAULT_INPUT_PER_1K = 0.0025
DEFAULT_OUTPUT_PER_1K = 0.01


@dataclass(frozen=True)
class PriceTable:
    """US dollars per 1,000 prompt (input) and completion (output) tokens."""

    input_per_1k: float = DEFAULT_INPUT_PER_1K
    output_per_1k: float = DEFAULT_OUTPUT_PER_1K

    def __post_init__(self) -> None:
        for name in ("input_per_1k", "output_per_1k"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: a price cannot be negative")

    def cost(self, usage: Usage | None) -> float | None:
        """The cost of ``usage`` in USD, or ``None`` when either token count is unknown.

        A guess from a partial count would look exact in a dashboard, so an
        unknown part makes the whole cost unknown.
        """
        if usage is None or usage.prompt_tokens is None or usage.completion_tokens is None:
            return None
        dollars = (
            usage.prompt_tokens * self.input_per_1k + usage.completion_tokens * self.output_per_1k
        ) / 1000
        # Sums of binary fractions leave tails like 0.0075000000000000006.
        return round(dollars, 10)
