"""Numbers as the recogniser hears them: "twenty two", never "22"."""

from decimal import Decimal

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_to_words(number: int) -> str:
    """Spell a whole number from 0 to 999,999 the way a driver says it."""
    if not 0 <= number < 1_000_000:
        raise ValueError(f"{number} is outside the spoken range 0..999999")
    if number < 20:
        return _ONES[number]
    if number < 100:
        tens, ones = divmod(number, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    if number < 1000:
        hundreds, rest = divmod(number, 100)
        head = _ONES[hundreds] + " hundred"
        return head if rest == 0 else f"{head} {number_to_words(rest)}"
    thousands, rest = divmod(number, 1000)
    head = number_to_words(thousands) + " thousand"
    return head if rest == 0 else f"{head} {number_to_words(rest)}"


# How drivers say the common fractions after a whole number: "twenty one and a half".
_FRACTIONS = {Decimal("0.5"): "a half", Decimal("0.25"): "a quarter", Decimal("0.75"): "three quarters"}


def spoken_forms(number: int | Decimal) -> list[str]:
    """Every way the grammar accepts a number: 21 -> "twenty one"; 21.5 -> "twenty one point five",
    "twenty one and a half"; 0.5 -> "zero point five", "point five", "a half".

    Decimals are spoken digit by digit after "point" ("seven point two five"), as drivers read them.
    """
    whole = int(number)
    fraction = Decimal(number) - whole
    if not fraction:
        return [number_to_words(whole)]
    digits = " ".join(_ONES[int(d)] for d in str(fraction.normalize()).split(".", 1)[1])
    head = number_to_words(whole)
    forms = [f"{head} point {digits}"]
    if whole == 0:
        forms.append(f"point {digits}")
    if fraction in _FRACTIONS:
        forms.append(_FRACTIONS[fraction] if whole == 0 else f"{head} and {_FRACTIONS[fraction]}")
    return forms
