"""Compiled dict shapes: the DATA walk's encoder for one recurring key tuple, as source.

Most data a server sends is made of dicts whose keys recur (records, events of one type). Once the
walk (:mod:`.walk`) has seen a key tuple ``COMPILE_AFTER`` times, it compiles an encoder for it
from :func:`shape_source`: the values unpacked in order, one type check each against the type
seen when compiling, v1's extra length for the keys as a constant, and the result built by one
dict display. A value of another type goes through the general walk, so the result never
depends on the types seen when compiling. The source holds only generated names (``v0``,
``W0``, ...) and integers, never a key or a value.
"""

from __future__ import annotations

__all__ = ["COMPILE_AFTER", "COMPILE_KEYS", "shape_source", "text_shape_source"]

#: A dict shape (its key tuple) is compiled once seen this often, if it has at most
#: ``COMPILE_KEYS`` keys, all exact str.
COMPILE_AFTER = 4
COMPILE_KEYS = 48


def shape_source(kinds: list[type | None], extra: int) -> str:
    """Return the source of ``shape(obj, tally)``, the encoder of one dict shape.

    ``kinds`` holds, per key in order, the type its value had when the shape was compiled, or
    None for a timestamp field; ``extra`` is what v1 writes more for the keys. The
    function reads the values in order, checks each against its kind (others take
    ``enc_value``), adds ``extra`` to the tally and builds the dict of the written keys ``W0``,
    ``W1``, ... in one step.
    """
    lines = _head("shape", len(kinds))
    for index, kind in enumerate(kinds):
        v = f"v{index}"
        if kind is None:
            lines.append(_stamp(v))
        elif kind is str or kind is int or kind is bool:
            name = kind.__name__  # the builtin's own name, never a user class's
            lines.append(f"    if type({v}) is not {name}: {v} = enc_value({v}, tally)")
        elif kind is dict:
            lines.append(
                f"    {v} = enc_dict({v}, tally) if type({v}) is dict else enc_value({v}, tally)"
            )
        else:
            lines.append(f"    {v} = enc_value({v}, tally)")
    lines.append(f"    tally[0] += {extra}")
    pairs = ", ".join(f"W{index}: v{index}" for index in range(len(kinds)))
    lines.append(f"    return {{{pairs}}}")
    return "\n".join(lines) + "\n"


def text_shape_source(kinds: list[type | None], extra: int) -> str:
    """Return the source of ``shape_text(obj, tally)``: the compact JSON text of what ``shape``
    (:func:`shape_source`) returns for the same dict, with the same tally.

    Each value is written by the standard library's own writers (``es``: the C string encoder
    of :mod:`json`; ``int.__repr__``; ``float.__repr__`` for finite floats), a value of another
    type by ``text_value`` (the walk, then :mod:`json`). ``P0``, ``P1``, ... are the JSON of the
    written keys with their separators, so the source holds no key or value.
    """
    lines = _head("shape_text", len(kinds))
    for index, kind in enumerate(kinds):
        v = f"v{index}"
        if kind is None:
            lines.append(_stamp(v))
            lines.append(
                f"    {v} = int_text({v}) if type({v}) is int else 'null' if {v} is None"
                f" else dump({v})"
            )
        elif kind is str:
            lines.append(f"    {v} = es({v}) if type({v}) is str else text_value({v}, tally)")
        elif kind is int:
            lines.append(f"    {v} = int_text({v}) if type({v}) is int else text_value({v}, tally)")
        elif kind is bool:
            lines.append(
                f"    {v} = ('true' if {v} else 'false') if type({v}) is bool"
                f" else text_value({v}, tally)"
            )
        elif kind is float:
            lines.append(f"    {v} = float_text({v}, tally)")
        elif kind is type(None):
            lines.append(f"    if {v} is None: tally[1] += 1; {v} = 'null'")
            lines.append(f"    else: {v} = text_value({v}, tally)")
        else:
            lines.append(f"    {v} = text_value({v}, tally)")
    lines.append(f"    tally[0] += {extra}")
    pieces = "".join(f"{{P{index}}}{{v{index}}}" for index in range(len(kinds)))
    lines.append(f'    return f"{pieces}}}}}"')
    return "\n".join(lines) + "\n"


def _head(name: str, count: int) -> list[str]:
    # The function's first lines: its values unpacked in order.
    return [
        f"def {name}(obj, tally):",
        f"    {''.join(f'v{i}, ' for i in range(count))}= obj.values()",
    ]


def _stamp(v: str) -> str:
    # A timestamp field's value encoded (a string that is no timestamp stays as it is).
    other = f"stamp_value(enc_value({v}, tally), tally)"
    return f"    {v} = stamp_text({v}, tally) if type({v}) is str else {other}"
