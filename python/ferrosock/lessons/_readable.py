"""How our own log lines show received bytes (the lesson's own ``print(data)`` lines stay)."""


def readable(data: bytes) -> str:
    """``'你好'`` (the text's repr) for UTF-8 beyond ASCII, else the bytes' repr (``b'hi'``).

    A Chinese message as bytes is a wall of ``\\xe4\\xbd\\xa0`` escapes; the native servers'
    log lines use the same rule."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return repr(data)
    return repr(data) if text.isascii() else repr(text)
