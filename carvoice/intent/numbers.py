"""Numbers as the recogniser hears them: "twenty two", never "22"."""

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
