"""Zip archives built in memory, as the tests of collecting and grading need them."""

import io
import struct
import zipfile
import zlib


def zipped(entries):
    """The bytes of a zip archive of ``{name: text or bytes}``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def bomb(gib, name="zeros.ipynb"):
    """The bytes of a real zip bomb: one entry that inflates to ``gib`` GiB of zeros (about 1 MB
    of deflate data a GiB). Built from one compressed 64 MiB piece repeated: after a full flush
    the compressor starts afresh, so the pieces join into one valid deflate stream."""
    piece_size = 2**26
    zeros = bytes(piece_size)
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    piece = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    count = int(gib * 2**30) // piece_size
    data = piece * count + compressor.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(zeros, crc)
    size, encoded = count * piece_size, name.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 8, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                        len(encoded), 20) + encoded + zip64(size, len(data))
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 8, 0, 0, crc, 0xFFFFFFFF,
                          0xFFFFFFFF, len(encoded), 28, 0, 0, 0, 0, 0) + encoded + zip64(size, len(data), 0)
    start = len(local) + len(data)
    end64 = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, 1, 1, len(central), start)
    locator = struct.pack("<IIQI", 0x07064B50, 0, start + len(central), 1)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), start, 0)
    return local + data + central + end64 + locator + end


def zip64(size, compressed, offset=None):
    """A zip64 extra field: sizes past 4 GiB (and the header's offset, in the central directory)."""
    fields = [size, compressed] + ([] if offset is None else [offset])
    return struct.pack(f"<HH{len(fields)}Q", 0x0001, 8 * len(fields), *fields)
