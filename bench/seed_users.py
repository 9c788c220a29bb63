"""Inserts N plain accounts straight into a migrated Strata SQLite database.

Used by export_rss.sh: hashing 100,000 passwords through the API would take
far longer than the export being measured. Rows follow the adapter's storage
format: UUIDs as 16-byte blobs, timestamps as RFC 3339 text with microseconds.
"""
import datetime
import sqlite3
import sys
import uuid

def main(path: str, count: int) -> None:
    db = sqlite3.connect(path)
    now = datetime.datetime.now(datetime.timezone.utc)
    # A valid bcrypt hash of nothing anyone knows: these accounts never log in.
    password_hash = "$2b$04$" + "C" * 53
    rows = []
    for i in range(count):
        stamp = (now - datetime.timedelta(seconds=count - i)).isoformat(timespec="microseconds")
        name = f"user{i:07d}"
        full_name = f'User "{i}", of the test' if i % 10 == 0 else None
        rows.append((uuid.uuid4().bytes, f"{name}@example.com", name, name, full_name, password_hash, "user", 1, stamp, stamp))
    db.executemany(
        "INSERT INTO users (id, email, username, username_lower, full_name, password_hash, role, is_active, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    db.commit()

if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
