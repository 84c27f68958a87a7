"""Zip archives built in memory, as the tests of collecting and grading need them."""

import io
import zipfile


def zipped(entries):
    """The bytes of a zip archive of ``{name: text or bytes}``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()
