"""Files as data: written atomically, read as if they came from anyone.

* `atomic` — every file the library writes goes through a temporary file in the target
  folder that replaces the target only when complete; leftovers of interrupted saves
  are cleaned up safely;
* `npz` — model and checkpoint archives read member by member, each ``.npy`` header
  checked against what the architecture expects before any data is read, within a
  decompression budget;
* `historylog` — the learning curves as an append-only CSV whose length and checksum a
  checkpoint records, so a checkpoint's cost does not grow with the run;
* `csvfile` — CSV data files (UTF-8 or UTF-16/32 with a byte-order mark) with messages
  that count lines and columns from 1.

`backprop.io` (`save`, `load`, checkpoints) is built on them.
"""
