//! The order adapter on every backend: stock reserved or nothing written,
//! prices copied, restocking once, racing orders never overselling, and the
//! statistics.

use std::sync::Arc;

use chrono::Duration;
use strata_domain::RepoError;
use strata_domain::catalog::{CatalogRepository, Currency, ProductChanges, ProductKey};
use strata_domain::orders::{
    NewOrder, OrderFilter, OrderLines, OrderRepository, OrderStatus, PlaceOrderError,
};
use strata_repository::SeaOrderRepository;
use uuid::Uuid;

use crate::catalog::{category, new_product, product, repo};
use crate::common::{counting_statements, create_user, now, page, take, test_databases};

fn new_order(user_id: Uuid, lines: &[(Uuid, i64)]) -> NewOrder {
    NewOrder {
        id: Uuid::now_v7(),
        user_id,
        lines: OrderLines::parse(lines).unwrap(),
        created_at: now(),
    }
}

async fn stock(catalog: &impl CatalogRepository, id: Uuid) -> i64 {
    catalog
        .find_product(ProductKey::Id(id))
        .await
        .unwrap()
        .stock_quantity
        .units()
}

#[tokio::test]
async fn an_order_takes_its_stock_and_prices_or_writes_nothing() {
    for db in test_databases().await {
        let backend = db.backend;
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        let catalog = repo(&db.conn);
        let orders = SeaOrderRepository::new(db.conn.clone());
        let shop = category(&catalog, "Shop").await;
        let apple = product(&catalog, shop.id, "Apple", 120, 10).await;
        let bread = product(&catalog, shop.id, "Bread", 349, 2).await;
        let mut usd = new_product(shop.id, "Dollar", 100, 5);
        usd.currency = Currency::parse("USD").unwrap();
        let usd = catalog.create_product(usd).await.unwrap();
        let version = catalog.version().await.unwrap();

        let placed = orders
            .place(new_order(ann.id, &[(bread.id, 2), (apple.id, 3)]))
            .await
            .unwrap();
        assert_eq!(placed.total, 3 * 120 + 2 * 349, "{backend}");
        assert_eq!(
            placed.items.iter().map(|i| i.line_total).sum::<i64>(),
            placed.total
        );
        assert_eq!(placed.status, OrderStatus::Pending);
        assert_eq!(
            (
                stock(&catalog, apple.id).await,
                stock(&catalog, bread.id).await
            ),
            (7, 0)
        );
        assert_eq!(catalog.version().await.unwrap(), version + 1);
        assert_eq!(orders.find(placed.id).await.unwrap(), placed);

        // Short on the second line: the first line's units stay.
        let short = orders
            .place(new_order(ann.id, &[(apple.id, 1), (bread.id, 1)]))
            .await;
        assert!(
            matches!(short, Err(PlaceOrderError::OutOfStock { product_id, .. }) if product_id == bread.id),
            "{backend}: {short:?}"
        );
        let mixed = orders
            .place(new_order(ann.id, &[(apple.id, 1), (usd.id, 1)]))
            .await;
        assert!(
            matches!(mixed, Err(PlaceOrderError::Pricing(_))),
            "{mixed:?}"
        );
        catalog
            .update_product(
                usd.id,
                ProductChanges {
                    is_active: Some(false),
                    ..ProductChanges::default()
                },
                1,
                now(),
            )
            .await
            .unwrap();
        let version = catalog.version().await.unwrap();
        for missing in [usd.id, Uuid::now_v7()] {
            let refused = orders.place(new_order(ann.id, &[(missing, 1)])).await;
            assert!(
                matches!(refused, Err(PlaceOrderError::Unavailable { .. })),
                "{refused:?}"
            );
        }
        assert_eq!(stock(&catalog, apple.id).await, 7);
        assert_eq!(stock(&catalog, usd.id).await, 5);
        assert_eq!(catalog.version().await.unwrap(), version);
        assert_eq!(
            orders
                .list(OrderFilter::default(), page(10, 0))
                .await
                .unwrap()
                .total,
            1
        );
    }
}

#[tokio::test]
async fn cancelling_restocks_once_and_statuses_move_by_compare_and_set() {
    for db in test_databases().await {
        let backend = db.backend;
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        let catalog = repo(&db.conn);
        let orders = SeaOrderRepository::new(db.conn.clone());
        let shop = category(&catalog, "Shop").await;
        let apple = product(&catalog, shop.id, "Apple", 120, 10).await;
        let placed = orders
            .place(new_order(ann.id, &[(apple.id, 4)]))
            .await
            .unwrap();
        let paid = orders
            .set_status(placed.id, OrderStatus::Pending, OrderStatus::Paid, now())
            .await
            .unwrap();
        assert_eq!(paid.status, OrderStatus::Paid);
        assert_eq!(stock(&catalog, apple.id).await, 6);
        let cancelled = orders
            .set_status(placed.id, OrderStatus::Paid, OrderStatus::Cancelled, now())
            .await
            .unwrap();
        assert_eq!(cancelled.status, OrderStatus::Cancelled);
        assert_eq!(stock(&catalog, apple.id).await, 10, "{backend}");
        // A second cancellation from the status it was read in changes nothing.
        let again = orders
            .set_status(placed.id, OrderStatus::Paid, OrderStatus::Cancelled, now())
            .await;
        assert!(
            matches!(again, Err(RepoError::VersionMismatch)),
            "{again:?}"
        );
        assert_eq!(stock(&catalog, apple.id).await, 10);
        let missing = orders
            .set_status(
                Uuid::now_v7(),
                OrderStatus::Paid,
                OrderStatus::Shipped,
                now(),
            )
            .await;
        assert!(matches!(missing, Err(RepoError::NotFound)));
        // An ordered product cannot be deleted.
        let current = catalog
            .find_product(ProductKey::Id(apple.id))
            .await
            .unwrap();
        let refused = catalog.delete_product(apple.id, current.version).await;
        assert!(matches!(refused, Err(RepoError::InUse)), "{refused:?}");

        let filter = OrderFilter {
            user_id: Some(ann.id),
            status: Some(OrderStatus::Cancelled),
        };
        assert_eq!(orders.list(filter, page(10, 0)).await.unwrap().total, 1);
        // Cancelled orders count for nothing in the statistics.
        let stats = orders.stats(now() - Duration::days(1), 10).await.unwrap();
        assert!(stats.days.is_empty() && stats.top_products.is_empty());
    }
}

#[tokio::test]
async fn racing_orders_never_take_more_than_the_stock() {
    for db in test_databases().await {
        let backend = db.backend;
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        let catalog = repo(&db.conn);
        let orders = Arc::new(SeaOrderRepository::new(db.conn.clone()));
        let shop = category(&catalog, "Shop").await;
        let a = product(&catalog, shop.id, "A", 100, 5).await;
        let b = product(&catalog, shop.id, "B", 200, 5).await;
        // Orders for both products, in both orders as sent: sorted by id
        // before locking, they cannot deadlock on PostgreSQL.
        let mut racers = Vec::new();
        for n in 0..24 {
            let orders = Arc::clone(&orders);
            let lines = if n % 2 == 0 {
                [(a.id, 1), (b.id, 1)]
            } else {
                [(b.id, 1), (a.id, 1)]
            };
            let order = new_order(ann.id, &lines);
            racers.push(tokio::spawn(async move { orders.place(order).await }));
        }
        let mut placed = 0;
        for racer in racers {
            match racer.await.unwrap() {
                Ok(_) => placed += 1,
                Err(PlaceOrderError::OutOfStock { .. }) => {}
                Err(other) => panic!("{backend}: {other:?}"),
            }
        }
        assert_eq!(placed, 5, "{backend}");
        assert_eq!(
            (stock(&catalog, a.id).await, stock(&catalog, b.id).await),
            (0, 0)
        );

        let stats = orders.stats(now() - Duration::days(1), 10).await.unwrap();
        assert_eq!(stats.days.len(), 1, "{backend}");
        assert_eq!((stats.days[0].orders, stats.days[0].revenue), (5, 5 * 300));
        assert_eq!(stats.top_products.len(), 2);
        assert!(stats.top_products.iter().all(|p| p.quantity == 5));
        assert_eq!(stats.top_products[0].currency.as_str(), "EUR");
    }
}

/// On SQLite this process is the file's only writer (operations.md), so the
/// catalog version is read once and then known until a write may move it;
/// every write through any repository of the file is seen by the next read.
/// PostgreSQL has other writers and reads it every time.
#[tokio::test]
async fn the_version_is_read_again_only_once_a_write_may_have_moved_it() {
    for db in test_databases().await {
        let backend = db.backend;
        let reads_when_unmoved = usize::from(backend != "sqlite");
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        let (counted, statements) = counting_statements(&db.conn);
        let reader = repo(&counted);
        let catalog = repo(&db.conn);
        let orders = SeaOrderRepository::new(db.conn.clone());
        let shop = category(&catalog, "Shop").await;
        let apple = product(&catalog, shop.id, "Apple", 120, 1).await;
        let start = reader.version().await.unwrap();
        take(&statements);
        assert_eq!(reader.version().await.unwrap(), start, "{backend}");
        assert_eq!(take(&statements), reads_when_unmoved, "{backend}");
        // Concurrent readers get the current version and never cost more
        // than a read each. How many reads they share depends on whether a
        // read ends before the next reader's first poll (on loopback
        // PostgreSQL it can end within that poll: 3 or 4 reads for 16
        // readers in about one run in four), so the sharing itself is proved
        // with paused time in `coalesce.rs`'s tests.
        let together = futures_util::future::join_all((0..16).map(|_| reader.version())).await;
        assert!(together.iter().all(|v| *v.as_ref().unwrap() == start));
        let shared = take(&statements);
        assert!(
            shared <= 16 * reads_when_unmoved,
            "{backend}: {shared} reads"
        );

        let placed = orders
            .place(new_order(ann.id, &[(apple.id, 1)]))
            .await
            .unwrap();
        assert_eq!(reader.version().await.unwrap(), start + 1, "{backend}");
        assert_eq!(take(&statements), 1, "{backend}: read once after the order");
        assert_eq!(reader.version().await.unwrap(), start + 1);
        assert_eq!(take(&statements), reads_when_unmoved, "{backend}");

        // A refused order moves nothing; the next read still goes to the file.
        let short = orders.place(new_order(ann.id, &[(apple.id, 1)])).await;
        assert!(
            matches!(short, Err(PlaceOrderError::OutOfStock { .. })),
            "{short:?}"
        );
        assert_eq!(reader.version().await.unwrap(), start + 1, "{backend}");

        orders
            .set_status(
                placed.id,
                OrderStatus::Pending,
                OrderStatus::Cancelled,
                now(),
            )
            .await
            .unwrap();
        assert_eq!(reader.version().await.unwrap(), start + 2, "{backend}");
        let changes = ProductChanges {
            price: Some(strata_domain::catalog::Price::parse(99).unwrap()),
            ..ProductChanges::default()
        };
        let current = catalog
            .find_product(ProductKey::Id(apple.id))
            .await
            .unwrap();
        catalog
            .update_product(apple.id, changes, current.version, now())
            .await
            .unwrap();
        take(&statements);
        assert_eq!(reader.version().await.unwrap(), start + 3, "{backend}");
        assert_eq!(take(&statements), 1, "{backend}");
    }
}
