"""Schemathesis hooks for `make fuzz` (fuzz/run.sh loads this file through SCHEMATHESIS_HOOKS).

One hook: a fresh Idempotency-Key for every request that carries a valid one.

The fuzzer draws header values from a tiny space ("0", "00", ...) and sends the same key with
different bodies. That is exactly the client error the header exists to catch: the server
answers 422 IDEMPOTENCY_KEY_REUSED (or replays the first answer, whose resource a later step
may have deleted), so every keyed POST would be reported as rejecting schema-valid data. A
real client makes a new key per new request, and so does this hook. Keys the schema calls
invalid are left alone, so the negative checks still see them refused (400). Replays, reuse
with another payload and concurrent duplicates are tested end to end in
tests/tests/idempotency.rs.
"""

import re
import uuid

import schemathesis

HEADER = "idempotency-key"
# The schema's pattern for the header (crates/http/src/idempotency.rs).
VALID_KEY = re.compile(r"[!#-\[\]-~]{1,255}")


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = case.headers or {}
    for name, value in list(headers.items()):
        if name.lower() == HEADER and isinstance(value, str) and VALID_KEY.fullmatch(value):
            headers[name] = str(uuid.uuid4())
