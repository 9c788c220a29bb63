//! Every list is served from an index in its own order: the statements the
//! adapters really run for each filter and sort are captured and explained
//! on both backends, and a sort step or a scan of a whole table fails.
//!
//! SQLite: `EXPLAIN QUERY PLAN` must show no `USE TEMP B-TREE` and no bare
//! `SCAN <table>` (one `USING [COVERING] INDEX` walks rows in order and stops
//! at the page). PostgreSQL: with sequential scans and sorts priced out
//! (`enable_seqscan`, `enable_sort` off, in one transaction), the plan must
//! contain neither a `Sort` nor a `Seq Scan` node, which it can only manage
//! when an index matches. Searches (`q`, a `LIKE '%…%'`) cannot use a B-tree
//! and are not listed here.

use std::sync::{Arc, Mutex};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};
use serde_json::{Value, json};
use strata_domain::items::{ItemFilter, ItemRepository, ItemSortField, NewItem, Title};
use strata_domain::jobs::{Claim, JobFilter, JobRepository, JobStatus, NewJob, Outcome};
use strata_domain::notifications::{NotificationFilter, NotificationRepository};
use strata_domain::page::{After, Direction, Sort};
use strata_domain::posts::{Body, NewComment, NewPost, PostFilter, PostRepository};
use strata_domain::users::{Role, UserChanges, UserFilter, UserRepository, UserSortField};
use strata_repository::{
    SeaItemRepository, SeaJobRepository, SeaNotificationRepository, SeaPostRepository,
    SeaUserRepository,
};
use uuid::Uuid;

use crate::common::{create_user, now, page, test_databases};

/// A handle on `db` that records every statement run through it.
fn capturing(db: &DatabaseConnection) -> (DatabaseConnection, Arc<Mutex<Vec<Statement>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut conn = db.clone();
    let sink = Arc::clone(&seen);
    conn.set_metric_callback(move |info| sink.lock().unwrap().push(info.statement.clone()));
    (conn, seen)
}

/// The problems in the plan of `statement` (empty when it is index-ordered).
async fn plan_problems(db: &DatabaseConnection, statement: &Statement) -> Vec<String> {
    match db.get_database_backend() {
        DbBackend::Sqlite => {
            let explain = Statement {
                sql: format!("EXPLAIN QUERY PLAN {}", statement.sql),
                ..statement.clone()
            };
            let rows = db.query_all_raw(explain).await.unwrap();
            rows.iter()
                .map(|row| row.try_get::<String>("", "detail").unwrap())
                .filter(|detail| {
                    detail.contains("TEMP B-TREE")
                        || (detail.starts_with("SCAN ") && !detail.contains(" USING "))
                })
                .collect()
        }
        _ => {
            let txn = db.begin().await.unwrap();
            for setting in ["enable_seqscan", "enable_sort"] {
                txn.execute_unprepared(&format!("SET LOCAL {setting} = off"))
                    .await
                    .unwrap();
            }
            let explain = Statement {
                sql: format!("EXPLAIN (FORMAT JSON) {}", statement.sql),
                ..statement.clone()
            };
            let row = txn.query_one_raw(explain).await.unwrap().unwrap();
            let plan: Value = row.try_get("", "QUERY PLAN").unwrap();
            txn.rollback().await.unwrap();
            let mut problems = Vec::new();
            nodes(&plan, &mut problems);
            problems
        }
    }
}

fn nodes(plan: &Value, problems: &mut Vec<String>) {
    match plan {
        Value::Object(map) => {
            if let Some(Value::String(kind)) = map.get("Node Type")
                && (kind.ends_with("Sort") || kind == "Seq Scan")
            {
                let on = map
                    .get("Relation Name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                problems.push(format!("{kind} {on}"));
            }
            map.values().for_each(|v| nodes(v, problems));
        }
        Value::Array(values) => values.iter().for_each(|v| nodes(v, problems)),
        _ => {}
    }
}

/// Explains every SELECT and UPDATE captured since the last call, labelled
/// `what`.
async fn check(
    db: &DatabaseConnection,
    seen: &Mutex<Vec<Statement>>,
    what: &str,
    failures: &mut Vec<String>,
) {
    let statements: Vec<Statement> = std::mem::take(&mut *seen.lock().unwrap());
    assert!(!statements.is_empty(), "{what}: no statement captured");
    for statement in statements {
        let sql = statement.sql.trim_start().to_uppercase();
        if !(sql.starts_with("SELECT") || sql.starts_with("UPDATE")) {
            continue;
        }
        for problem in plan_problems(db, &statement).await {
            failures.push(format!("{what}: {problem}\n    {}", statement.sql));
        }
    }
}

const DIRECTIONS: [Direction; 2] = [Direction::Asc, Direction::Desc];

#[tokio::test]
async fn every_list_is_read_in_index_order_without_a_sort_or_a_table_scan() {
    for db in test_databases().await {
        let backend = db.backend;
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        create_user(&db.conn, "bob@example.com", "bob").await;
        let (conn, seen) = capturing(&db.conn);
        let items = SeaItemRepository::new(conn.clone());
        let posts = SeaPostRepository::new(conn.clone());
        let users = SeaUserRepository::new(conn.clone());
        // Full pages, so the page's COUNT(*) runs too.
        for n in 0..3 {
            items
                .create(NewItem {
                    id: Uuid::now_v7(),
                    title: Title::parse(&format!("item {n}")).unwrap(),
                    description: None,
                    owner_id: ann.id,
                    created_at: now(),
                })
                .await
                .unwrap();
        }
        let post = posts
            .create(NewPost {
                id: Uuid::now_v7(),
                title: Title::parse("post").unwrap(),
                body: Body::parse("body", Body::POST_MAX).unwrap(),
                slug: strata_domain::posts::Slug::parse(&Uuid::now_v7().simple().to_string())
                    .unwrap(),
                description: None,
                tags: Vec::new(),
                author_id: ann.id,
                created_at: now(),
            })
            .await
            .unwrap();
        posts
            .add_comment(NewComment {
                id: Uuid::now_v7(),
                post_id: post.id,
                body: Body::parse("comment", Body::COMMENT_MAX).unwrap(),
                author_id: ann.id,
                created_at: now(),
            })
            .await
            .unwrap();
        seen.lock().unwrap().clear();

        let mut failures = Vec::new();
        for direction in DIRECTIONS {
            for field in [
                ItemSortField::CreatedAt,
                ItemSortField::UpdatedAt,
                ItemSortField::Title,
            ] {
                let sort = Sort { field, direction };
                for owner_id in [Some(ann.id), None] {
                    let filter = ItemFilter { owner_id, q: None };
                    items.list(filter.clone(), sort, page(1, 0)).await.unwrap();
                    let what = format!("items by {field:?} {direction:?}, owner {owner_id:?}");
                    check(&conn, &seen, &what, &mut failures).await;
                    // A keyset page seeks the same index to its position.
                    let after = After {
                        value: field.value_of(now(), now(), "m"),
                        id: Uuid::now_v7(),
                    };
                    items
                        .list_after(filter, sort, after, page(1, 0))
                        .await
                        .unwrap();
                    let what = format!(
                        "items after a cursor by {field:?} {direction:?}, owner {owner_id:?}"
                    );
                    check(&conn, &seen, &what, &mut failures).await;
                }
                for author in [Some("ann".to_owned()), None] {
                    let filter = PostFilter {
                        author: author.clone(),
                        q: None,
                        ..PostFilter::default()
                    };
                    posts.list(filter.clone(), sort, page(1, 0)).await.unwrap();
                    let what = format!("posts by {field:?} {direction:?}, author {author:?}");
                    check(&conn, &seen, &what, &mut failures).await;
                    let after = After {
                        value: field.value_of(now(), now(), "m"),
                        id: Uuid::now_v7(),
                    };
                    posts
                        .list_after(filter, sort, after, page(1, 0))
                        .await
                        .unwrap();
                    let what = format!(
                        "posts after a cursor by {field:?} {direction:?}, author {author:?}"
                    );
                    check(&conn, &seen, &what, &mut failures).await;
                }
            }
            for field in [
                UserSortField::CreatedAt,
                UserSortField::Email,
                UserSortField::Username,
            ] {
                let sort = Sort { field, direction };
                users
                    .list(UserFilter::default(), sort, page(1, 0))
                    .await
                    .unwrap();
                let what = format!("users by {field:?} {direction:?}");
                check(&conn, &seen, &what, &mut failures).await;
            }
            // The admin filters, in the default order.
            let sort = Sort {
                field: UserSortField::CreatedAt,
                direction,
            };
            for filter in [
                UserFilter {
                    role: Some(Role::Admin),
                    ..UserFilter::default()
                },
                UserFilter {
                    is_active: Some(false),
                    ..UserFilter::default()
                },
            ] {
                let what = format!("users {filter:?} {direction:?}");
                users.list(filter, sort, page(1, 0)).await.unwrap();
                check(&conn, &seen, &what, &mut failures).await;
            }
        }
        posts.list_comments(post.id, page(1, 0)).await.unwrap();
        check(&conn, &seen, "comments", &mut failures).await;

        assert!(
            failures.is_empty(),
            "{backend}: {} plans sort or scan:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}

/// The queue's hot statements (the claim above all) and its lists walk
/// indexes too. Not here: the admin filter by kind (its page walks
/// `ix_jobs_created`, but its total counts the table) and the metrics'
/// counts by kind and status, which read the whole table by design (see the
/// jobs migration).
#[tokio::test]
async fn the_job_queue_claims_and_lists_from_indexes() {
    for db in test_databases().await {
        let backend = db.backend;
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        let (conn, seen) = capturing(&db.conn);
        let jobs = SeaJobRepository::new(conn.clone());
        let t = now();
        for n in 0..3 {
            let job = NewJob::new("export", json!({ "n": n }), 3, t).created_by(ann.id);
            jobs.enqueue(job).await.unwrap();
        }
        let claimed = jobs.claim(claim(&["export", "import"]), t).await.unwrap();
        jobs.finish(claimed[0].id, "w", Outcome::Cancelled, t)
            .await
            .unwrap();
        seen.lock().unwrap().clear();

        let mut failures = Vec::new();
        jobs.claim(claim(&["export"]), t).await.unwrap();
        check(&conn, &seen, "claim", &mut failures).await;
        jobs.heartbeat(claimed[0].id, "w", t, None).await.unwrap();
        check(&conn, &seen, "heartbeat", &mut failures).await;
        jobs.oldest_due(t).await.unwrap();
        check(&conn, &seen, "oldest due", &mut failures).await;
        jobs.reap_expired(t).await.unwrap();
        check(&conn, &seen, "reap", &mut failures).await;
        jobs.finished_before(t, 10).await.unwrap();
        check(&conn, &seen, "finished before", &mut failures).await;
        for filter in [
            JobFilter {
                created_by: Some(ann.id),
                ..JobFilter::default()
            },
            JobFilter::default(),
            JobFilter {
                status: Some(JobStatus::Running),
                ..JobFilter::default()
            },
            JobFilter {
                created_by: Some(ann.id),
                status: Some(JobStatus::Queued),
                kind: Some("export".into()),
            },
        ] {
            let what = format!("jobs {filter:?}");
            jobs.list(filter, page(1, 0)).await.unwrap();
            check(&conn, &seen, &what, &mut failures).await;
        }

        assert!(
            failures.is_empty(),
            "{backend}: {} plans sort or scan:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}

/// A user's notifications, all or unread, newest first, and marking them.
#[tokio::test]
async fn notifications_are_listed_and_marked_from_indexes() {
    for db in test_databases().await {
        let backend = db.backend;
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        let (conn, seen) = capturing(&db.conn);
        let users = SeaUserRepository::new(conn.clone());
        // Three role changes: three notifications, so a page of one is full.
        for role in [Role::Admin, Role::User, Role::Admin] {
            let changes = UserChanges {
                role: Some(role),
                ..UserChanges::default()
            };
            users.update(ann.id, changes, now()).await.unwrap();
        }
        seen.lock().unwrap().clear();

        let notifications = SeaNotificationRepository::new(conn.clone());
        let mut failures = Vec::new();
        for unread_only in [false, true] {
            let filter = NotificationFilter {
                user_id: ann.id,
                unread_only,
            };
            let listed = notifications.list(filter, page(1, 0)).await.unwrap();
            assert_eq!(listed.total, 3 - u64::from(unread_only), "{backend}");
            check(&conn, &seen, &format!("{filter:?}"), &mut failures).await;
            notifications
                .mark_read(ann.id, listed.items[0].id, now())
                .await
                .unwrap();
            check(&conn, &seen, "mark read", &mut failures).await;
        }
        notifications.mark_all_read(ann.id, now()).await.unwrap();
        check(&conn, &seen, "mark all read", &mut failures).await;
        assert!(
            failures.is_empty(),
            "{backend}: {} plans sort or scan:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}

/// Products in each order, public and inactive, with and without a
/// category; categories; orders by each filter; placing and cancelling an
/// order (its conditional updates and reads go by primary key).
#[tokio::test]
async fn the_catalog_and_orders_are_read_and_written_from_indexes() {
    use strata_domain::catalog::{CatalogRepository, Price, ProductFilter, ProductSortField};
    use strata_domain::orders::{NewOrder, OrderFilter, OrderLines, OrderRepository, OrderStatus};
    use strata_repository::{SeaCatalogRepository, SeaOrderRepository};

    for db in test_databases().await {
        let backend = db.backend;
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        let (conn, seen) = capturing(&db.conn);
        let catalog = SeaCatalogRepository::new(conn.clone());
        let orders = SeaOrderRepository::new(conn.clone());
        let shop = crate::catalog::category(&catalog, "Shop").await;
        let mut products = Vec::new();
        for n in 0..3 {
            let name = format!("product {n}");
            products.push(crate::catalog::product(&catalog, shop.id, &name, 100 + n, 10).await);
        }
        let placed = |lines: &[(Uuid, i64)]| NewOrder {
            id: Uuid::now_v7(),
            user_id: ann.id,
            lines: OrderLines::parse(lines).unwrap(),
            created_at: now(),
        };
        for product in &products {
            orders.place(placed(&[(product.id, 1)])).await.unwrap();
        }
        seen.lock().unwrap().clear();

        let mut failures = Vec::new();
        for direction in DIRECTIONS {
            for field in [
                ProductSortField::Price,
                ProductSortField::Name,
                ProductSortField::CreatedAt,
            ] {
                let sort = Sort { field, direction };
                for (category_id, is_active) in [
                    (None, true),
                    (Some(shop.id), true),
                    (None, false),
                    (Some(shop.id), false),
                ] {
                    let filter = ProductFilter {
                        is_active,
                        category_id,
                        ..ProductFilter::default()
                    };
                    catalog
                        .list_products(filter.clone(), sort, page(1, 0))
                        .await
                        .unwrap();
                    let what = format!("products by {field:?} {direction:?}, {filter:?}");
                    check(&conn, &seen, &what, &mut failures).await;
                }
            }
        }
        // Stock narrows the walk of the same indexes. A price range is
        // walked in the price index; under another order the planner may
        // read the range and sort it, its choice for a selective range.
        let by_price = Sort {
            field: ProductSortField::Price,
            direction: Direction::Asc,
        };
        for (filter, sort) in [
            (
                ProductFilter {
                    category_id: Some(shop.id),
                    min_price: Some(Price::parse(100).unwrap()),
                    max_price: Some(Price::parse(101).unwrap()),
                    ..ProductFilter::default()
                },
                by_price,
            ),
            (
                ProductFilter {
                    in_stock: Some(true),
                    ..ProductFilter::default()
                },
                Sort::default(),
            ),
        ] {
            let what = format!("products {filter:?}");
            catalog
                .list_products(filter, sort, page(1, 0))
                .await
                .unwrap();
            check(&conn, &seen, &what, &mut failures).await;
        }
        catalog.list_categories(page(1, 0)).await.unwrap();
        check(&conn, &seen, "categories", &mut failures).await;
        for filter in [
            OrderFilter::default(),
            OrderFilter {
                user_id: Some(ann.id),
                status: None,
            },
            OrderFilter {
                user_id: None,
                status: Some(OrderStatus::Pending),
            },
            OrderFilter {
                user_id: Some(ann.id),
                status: Some(OrderStatus::Pending),
            },
        ] {
            orders.list(filter.clone(), page(1, 0)).await.unwrap();
            check(&conn, &seen, &format!("orders {filter:?}"), &mut failures).await;
        }
        let lines: Vec<(Uuid, i64)> = products.iter().map(|p| (p.id, 1)).collect();
        let order = orders.place(placed(&lines)).await.unwrap();
        check(&conn, &seen, "place an order", &mut failures).await;
        orders
            .set_status(
                order.id,
                OrderStatus::Pending,
                OrderStatus::Cancelled,
                now(),
            )
            .await
            .unwrap();
        check(&conn, &seen, "cancel an order", &mut failures).await;
        catalog.version().await.unwrap();
        check(&conn, &seen, "catalog version", &mut failures).await;

        assert!(
            failures.is_empty(),
            "{backend}: {} plans sort or scan:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}

fn claim(kinds: &[&str]) -> Claim {
    Claim {
        worker: "w".into(),
        kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
        limit: 1,
        lease: std::time::Duration::from_secs(30),
    }
}
