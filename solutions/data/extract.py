"""How the course's sentences were made (run once; the output is committed beside this file).

* ``technical.txt``: sentences from the docstrings of Python's standard library (Python 3.11),
  the "technical documentation" domain.
* ``everyday.txt``: the example sentences of WordNet 3.0 glosses (Debian package
  ``wordnet-base``), everyday English usage.

Usage: ``python solutions/data/extract.py`` (needs ``apt-get install wordnet-base``).
"""

import importlib
import inspect
import random
import re
from pathlib import Path

HERE = Path(__file__).parent
COUNT = 600  # sentences kept per domain
MODULES = """argparse ast asyncio base64 bisect calendar codecs collections concurrent.futures configparser
contextlib copy csv dataclasses datetime decimal difflib doctest email enum filecmp fileinput fnmatch
fractions ftplib functools gettext glob gzip hashlib heapq hmac html http.client http.server imaplib
inspect io ipaddress itertools json locale logging lzma mailbox mimetypes mmap multiprocessing netrc
numbers operator optparse os pathlib pickle pkgutil platform plistlib poplib pprint queue random re
sched secrets selectors shelve shlex shutil signal smtplib socket socketserver sqlite3 ssl statistics
string struct subprocess tarfile tempfile textwrap threading timeit tokenize traceback turtle typing
unittest urllib.parse urllib.request uuid warnings weakref wave xml.dom.minidom xml.etree.ElementTree
zipfile zoneinfo""".split()


def clean(sentence):
    sentence = " ".join(sentence.split())
    words = sentence.split()
    if not 8 <= len(words) <= 40 or not sentence[0].isupper():
        return None
    if re.search(r"[<>{}\[\]=_`*\\|#@]|\.\.\.|\(\)|::", sentence):
        return None
    return sentence if sentence.endswith(".") else None


def docstring_sentences():
    found = set()
    for name in MODULES:
        module = importlib.import_module(name)
        objects = [module, *(obj for _, obj in inspect.getmembers(module) if callable(obj))]
        for obj in objects:
            doc = inspect.getdoc(obj) or ""
            for paragraph in doc.split("\n\n"):
                for sentence in re.split(r"(?<=\.)\s+(?=[A-Z])", paragraph):
                    if (kept := clean(sentence)) is not None:
                        found.add(kept)
    return found


def wordnet_sentences(folder=Path("/usr/share/wordnet")):
    found = set()
    for part in ("noun", "verb", "adj", "adv"):
        for line in (folder / f"data.{part}").read_text(errors="replace").splitlines():
            if "|" not in line:
                continue
            for quoted in re.findall(r'"([^"]+)"', line.split("|", 1)[1]):
                text = quoted.strip()
                text = text[0].upper() + text[1:] if text else text
                if text and text[-1] not in ".!?":
                    text += "."
                if (kept := clean(text)) is not None:
                    found.add(kept)
    return found


def write(name, sentences):
    chosen = sorted(sentences)
    random.Random(0).shuffle(chosen)
    (HERE / name).write_text("\n".join(chosen[:COUNT]) + "\n")
    print(f"{name}: {min(COUNT, len(chosen))} of {len(chosen)} sentences")


if __name__ == "__main__":
    write("technical.txt", docstring_sentences())
    write("everyday.txt", wordnet_sentences())
