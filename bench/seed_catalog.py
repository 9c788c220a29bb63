#!/usr/bin/env python3
"""Seeds the catalog of a running Strata through its HTTP API (standard library only).

    seed_catalog.py BASE_URL OUT_DIR ADMIN_USERNAME ADMIN_PASSWORD [PRODUCTS]

Logs the administrator in (bench/run.sh creates it with `strata create-admin`),
creates 10 categories and PRODUCTS products (default 1,000) spread over them,
each priced from 1,000,000 minor units up (so `min_price` below that selects
every product: the list_products_miss scenario varies it to make every URL new)
and stocked with 1,000,000 units (create_order never runs out). Writes
OUT_DIR/product_ids.txt.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seed import Client, expect, parallel  # noqa: E402


def main():
    if len(sys.argv) < 5:
        raise SystemExit(__doc__)
    base, out, username, password = sys.argv[1:5]
    n_products = int(sys.argv[5]) if len(sys.argv) > 5 else 1_000
    client = Client(base)
    status, body = client.call("POST", "/api/v1/auth/login", {"username": username, "password": password})
    token = expect(status, body, 200, "admin login")["access_token"]
    categories = []
    for c in range(10):
        status, body = client.call("POST", "/api/v1/categories", {"name": f"Category {c}"}, token)
        categories.append(expect(status, body, 201, "POST /api/v1/categories")["id"])

    def create_product(client, i):
        status, body = client.call(
            "POST",
            "/api/v1/products",
            {
                "name": f"Product {i}",
                "description": f"The benchmark's product number {i}.",
                "price": 1_000_000 + i,
                "currency": "EUR",
                "stock_quantity": 1_000_000,
                "category_id": categories[i % len(categories)],
            },
            token,
        )
        return expect(status, body, 201, "POST /api/v1/products")["id"]

    ids = parallel(base, n_products, create_product)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "product_ids.txt"), "w") as f:
        f.write("\n".join(ids) + "\n")
    print(f"seeded 10 categories and {n_products} products")


if __name__ == "__main__":
    main()
