"""Files written so that a crash never leaves a half-written one behind,
and read back."""

import csv
import io
import json
import os
import tempfile
from typing import Iterable, Mapping, Sequence


_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: str, data: bytes) -> None:
  """Writes `data` to a temporary file beside `path`, then renames it over."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix='.tmp-')
  try:
    os.chmod(tmp, 0o666 & ~_UMASK)  # As open() would create it (mkstemp: 0600).
    with os.fdopen(fd, 'wb') as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    os.unlink(tmp)
    raise


def read_json(path: str):
  """The JSON value in the file at `path`."""
  with open(path) as f:
    return json.load(f)


def atomic_write_text(path: str, text: str) -> None:
  atomic_write_bytes(path, text.encode('utf-8'))


def atomic_write_csv(path: str, header: Sequence[str],
                     rows: Iterable[Sequence[object] | Mapping[str, object]]
                     ) -> None:
  """A CSV of `rows` (sequences in header order, or dicts by header name)."""
  buffer = io.StringIO()
  writer = csv.writer(buffer)
  writer.writerow(header)
  for row in rows:
    writer.writerow([row.get(h) for h in header] if isinstance(row, Mapping)
                    else row)
  atomic_write_text(path, buffer.getvalue())
