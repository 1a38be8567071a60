"""Google Sheets as a submission source and as a read-only copy of the register.

Kept apart from the file pipeline: a submitter's Google Sheet is read into the same raw cells a
file gives (:mod:`.source`), validated and merged like a file, and the register sheets are
published back (:mod:`.publish`) through one gspread client whose retries, endpoint and error
messages we control (:mod:`.client`).  :mod:`.nightly` is what the nightly job calls.
"""
