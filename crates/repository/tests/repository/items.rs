use chrono::Duration;
use sea_orm::ConnectionTrait;
use strata_domain::RepoError;
use strata_domain::items::{
    Description, Item, ItemChanges, ItemFilter, ItemRepository, ItemSortField, NewItem, Title,
};
use strata_domain::page::{After, Direction, PageRequest, Sort, SortValue};
use strata_domain::users::UserRepository;
use strata_repository::{SeaItemRepository, SeaUserRepository};
use uuid::Uuid;

use crate::common::{
    assert_not_found, count, counting_statements, create_user, is_not_found, now, page, take,
    test_databases,
};

fn new_item(owner_id: Uuid, title: &str, description: Option<&str>) -> NewItem {
    NewItem {
        id: Uuid::now_v7(),
        title: Title::parse(title).unwrap(),
        description: description.map(|d| Description::parse(d).unwrap()),
        owner_id,
        created_at: now(),
    }
}

fn by(field: ItemSortField, direction: Direction) -> Sort<ItemSortField> {
    Sort { field, direction }
}

fn titles(items: &[Item]) -> Vec<&str> {
    items.iter().map(|i| i.title.as_str()).collect()
}

/// Searches every owner's items for `q`; checks the titles found and the total.
async fn assert_finds(repo: &SeaItemRepository, backend: &str, q: &str, expected: &[&str]) {
    let sort = by(ItemSortField::Title, Direction::Asc);
    let found = repo.list(search(None, q), sort, page(20, 0)).await.unwrap();
    assert_eq!(titles(&found.items), expected, "{backend}: q = {q:?}");
    assert_eq!(found.total, expected.len() as u64, "{backend}: q = {q:?}");
}

fn search(owner_id: Option<Uuid>, q: &str) -> ItemFilter {
    ItemFilter {
        owner_id,
        q: strata_domain::page::search_text(Some(q)),
    }
}

#[tokio::test]
async fn a_created_item_is_found_by_id_unchanged() {
    for db in test_databases().await {
        let repo = SeaItemRepository::new(db.conn.clone());
        let owner = create_user(&db.conn, "ann@example.com", "ann").await;

        let created = repo
            .create(new_item(owner.id, "Milk", Some("Two litres, whole")))
            .await
            .unwrap();
        assert_eq!(created.version, 1);
        assert_eq!(created.created_at, created.updated_at);
        assert_eq!(created.owner_id, owner.id);
        assert_eq!(
            repo.find(created.id).await.unwrap(),
            created,
            "{}",
            db.backend
        );

        let bare = repo.create(new_item(owner.id, "Eggs", None)).await.unwrap();
        assert_eq!(repo.find(bare.id).await.unwrap().description, None);
    }
}

#[tokio::test]
async fn creating_an_item_for_a_missing_owner_is_not_found() {
    for db in test_databases().await {
        let repo = SeaItemRepository::new(db.conn.clone());
        assert_not_found(
            repo.create(new_item(Uuid::now_v7(), "Orphan", None)).await,
            db.backend,
        );
        assert_eq!(count(&db.conn, "items", "1 = 1").await, 0);
    }
}

#[tokio::test]
async fn list_is_scoped_by_owner_and_q_matches_title_or_description_in_any_case() {
    for db in test_databases().await {
        let repo = SeaItemRepository::new(db.conn.clone());
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        let bob = create_user(&db.conn, "bob@example.com", "bob").await;
        repo.create(new_item(ann.id, "Buy MILK", None))
            .await
            .unwrap();
        repo.create(new_item(ann.id, "Bread", Some("with Milk crust")))
            .await
            .unwrap();
        repo.create(new_item(ann.id, "Eggs", Some("a dozen")))
            .await
            .unwrap();
        repo.create(new_item(bob.id, "Milkshake", None))
            .await
            .unwrap();
        let sort = by(ItemSortField::Title, Direction::Asc);

        let anns = repo
            .list(search(Some(ann.id), ""), sort, page(20, 0))
            .await
            .unwrap();
        assert_eq!(
            titles(&anns.items),
            ["Bread", "Buy MILK", "Eggs"],
            "{}",
            db.backend
        );
        assert_eq!(anns.total, 3);
        assert!(anns.items.iter().all(|i| i.owner_id == ann.id));

        let anns_milk = repo
            .list(search(Some(ann.id), "mIlK"), sort, page(20, 0))
            .await
            .unwrap();
        assert_eq!(
            titles(&anns_milk.items),
            ["Bread", "Buy MILK"],
            "{}",
            db.backend
        );
        assert_eq!(anns_milk.total, 2);

        let everyones_milk = repo
            .list(search(None, "MILK"), sort, page(20, 0))
            .await
            .unwrap();
        assert_eq!(
            titles(&everyones_milk.items),
            ["Bread", "Buy MILK", "Milkshake"],
            "{}",
            db.backend
        );

        let nothing = repo
            .list(search(Some(bob.id), "bread"), sort, page(20, 0))
            .await
            .unwrap();
        assert!(nothing.items.is_empty());
        assert_eq!(nothing.total, 0);
    }
}

#[tokio::test]
async fn q_folds_case_beyond_ascii_on_every_backend() {
    for db in test_databases().await {
        let repo = SeaItemRepository::new(db.conn.clone());
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        for (title, description) in [
            ("ÉLAN VITAL", None),
            ("Kein Ärger", None),
            ("Plain", Some("ΣΟΦΙΑ in Greek")),
            ("elan", None),
            ("Ça.va(1)*", None),
            ("Çaxva(1)", None),
        ] {
            repo.create(new_item(ann.id, title, description))
                .await
                .unwrap();
        }
        for (q, expected) in [
            ("élan", vec!["ÉLAN VITAL"]),
            ("ÄRGER", vec!["Kein Ärger"]),
            ("σοφια", vec!["Plain"]),
            // An accent is not a case: "elan" does not match "élan".
            ("ELAN", vec!["elan"]),
            // Beyond ASCII the match is a regular expression on SQLite:
            // its special characters stay literal there too.
            ("ça.va(1)*", vec!["Ça.va(1)*"]),
            ("ÇA", vec!["Ça.va(1)*", "Çaxva(1)"]),
            ("a(1", vec!["Ça.va(1)*", "Çaxva(1)"]),
        ] {
            assert_finds(&repo, db.backend, q, &expected).await;
        }
    }
}

#[tokio::test]
async fn wildcard_backslash_and_regex_characters_in_q_match_literally() {
    for db in test_databases().await {
        let repo = SeaItemRepository::new(db.conn.clone());
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        for title in [
            "100% cotton",
            "1000 cotton",
            "snake_case",
            "snakeXcase",
            "C:\\temp",
            "C:temp",
            "a.b(c)*",
            "axb(c)",
            "x^2 $5",
        ] {
            repo.create(new_item(ann.id, title, None)).await.unwrap();
        }
        for (q, expected) in [
            ("0%", vec!["100% cotton"]),
            ("%", vec!["100% cotton"]),
            ("e_c", vec!["snake_case"]),
            ("_", vec!["snake_case"]),
            (":\\", vec!["C:\\temp"]),
            // Nor are regular-expression characters special.
            (".b(c)*", vec!["a.b(c)*"]),
            ("b(c", vec!["a.b(c)*", "axb(c)"]),
            ("^2 $", vec!["x^2 $5"]),
        ] {
            assert_finds(&repo, db.backend, q, &expected).await;
        }
    }
}

#[tokio::test]
async fn list_sorts_by_title_both_ways_and_pages_with_limit_offset_and_total() {
    for db in test_databases().await {
        let repo = SeaItemRepository::new(db.conn.clone());
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        for title in ["Cherry", "Apple", "Elderberry", "Banana", "Date"] {
            repo.create(new_item(ann.id, title, None)).await.unwrap();
        }
        let mine = search(Some(ann.id), "");

        let asc = by(ItemSortField::Title, Direction::Asc);
        let first = repo.list(mine.clone(), asc, page(2, 0)).await.unwrap();
        assert_eq!(titles(&first.items), ["Apple", "Banana"], "{}", db.backend);
        assert_eq!((first.total, first.limit, first.offset), (5, 2, 0));
        let second = repo.list(mine.clone(), asc, page(2, 2)).await.unwrap();
        assert_eq!(titles(&second.items), ["Cherry", "Date"]);
        let last = repo.list(mine.clone(), asc, page(2, 4)).await.unwrap();
        assert_eq!(titles(&last.items), ["Elderberry"]);
        assert_eq!(last.total, 5);
        let beyond = repo.list(mine.clone(), asc, page(2, 10)).await.unwrap();
        assert!(beyond.items.is_empty());
        assert_eq!(beyond.total, 5);

        let desc = by(ItemSortField::Title, Direction::Desc);
        let all = repo.list(mine, desc, page(20, 0)).await.unwrap();
        assert_eq!(
            titles(&all.items),
            ["Elderberry", "Date", "Cherry", "Banana", "Apple"],
            "{}",
            db.backend
        );
    }
}

#[tokio::test]
async fn items_with_equal_sort_keys_are_ordered_by_id_so_pages_neither_repeat_nor_skip() {
    for db in test_databases().await {
        let repo = SeaItemRepository::new(db.conn.clone());
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        let at = now();
        let mut ids = Vec::new();
        for _ in 0..5 {
            let mut item = new_item(ann.id, "Same", None);
            item.created_at = at;
            ids.push(repo.create(item).await.unwrap().id);
        }
        for direction in [Direction::Asc, Direction::Desc] {
            let sort = by(ItemSortField::CreatedAt, direction);
            let mut seen = Vec::new();
            for offset in [0, 2, 4] {
                let page = repo
                    .list(ItemFilter::default(), sort, page(2, offset))
                    .await
                    .unwrap();
                seen.extend(page.items.iter().map(|i| i.id));
            }
            let mut expected = ids.clone();
            expected.sort();
            if direction == Direction::Desc {
                expected.reverse();
            }
            assert_eq!(seen, expected, "{} {direction:?}", db.backend);
        }
    }
}

#[tokio::test]
async fn keyset_pages_walk_every_sort_like_offset_pages_ties_included() {
    for db in test_databases().await {
        let repo = SeaItemRepository::new(db.conn.clone());
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        let at = now();
        // Equal titles and equal timestamps: only the id breaks the ties.
        let rows = [
            (0, "b"),
            (1, "a"),
            (2, "b"),
            (0, "c"),
            (1, "a"),
            (2, "b"),
            (0, "d"),
        ];
        for (seconds, title) in rows {
            let mut item = new_item(ann.id, title, None);
            item.created_at = at - Duration::seconds(seconds);
            repo.create(item).await.unwrap();
        }
        let mine = search(Some(ann.id), "");
        for field in [
            ItemSortField::CreatedAt,
            ItemSortField::UpdatedAt,
            ItemSortField::Title,
        ] {
            for direction in [Direction::Asc, Direction::Desc] {
                let sort = by(field, direction);
                let all = repo.list(mine.clone(), sort, page(100, 0)).await.unwrap();
                let mut walked = Vec::new();
                let mut first = repo.list(mine.clone(), sort, page(2, 0)).await.unwrap();
                loop {
                    walked.extend(first.items.iter().map(|i| i.id));
                    let Some(last) = first.items.last() else {
                        break;
                    };
                    let after = After {
                        value: field.value_of(
                            last.created_at,
                            last.updated_at,
                            last.title.as_str(),
                        ),
                        id: last.id,
                    };
                    first = repo
                        .list_after(mine.clone(), sort, after, page(2, 0))
                        .await
                        .unwrap();
                    // Even a short last page reports every matching row.
                    assert_eq!(first.total, 7, "{} {sort:?}", db.backend);
                }
                let expected: Vec<Uuid> = all.items.iter().map(|i| i.id).collect();
                assert_eq!(walked, expected, "{} {sort:?}", db.backend);
            }
        }

        // A row added before the position does not shift the rows after it.
        let sort = by(ItemSortField::Title, Direction::Asc);
        let first = repo.list(mine.clone(), sort, page(3, 0)).await.unwrap();
        let last = first.items.last().unwrap();
        let after = After {
            value: SortValue::Text(last.title.as_str().to_owned()),
            id: last.id,
        };
        let before = repo
            .list_after(mine.clone(), sort, after.clone(), page(3, 0))
            .await
            .unwrap();
        repo.create(new_item(ann.id, "A", None)).await.unwrap();
        let again = repo
            .list_after(mine, sort, after, page(3, 0))
            .await
            .unwrap();
        assert_eq!(
            titles(&again.items),
            titles(&before.items),
            "{}",
            db.backend
        );
        assert_eq!(again.total, 8);
    }
}

#[tokio::test]
async fn an_owners_kept_count_follows_inserts_batches_deletes_and_cascades() {
    for db in test_databases().await {
        let repo = SeaItemRepository::new(db.conn.clone());
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        let bob = create_user(&db.conn, "bob@example.com", "bob").await;
        for title in ["a", "b", "c"] {
            repo.create(new_item(ann.id, title, None)).await.unwrap();
        }
        let batch: Vec<NewItem> = (0..4)
            .map(|n| new_item(ann.id, &format!("line {n}"), None))
            .collect();
        assert_eq!(repo.create_batch(batch.clone()).await.unwrap(), 4);
        // A repeated batch counts only the row it really adds.
        let mut again = batch[..2].to_vec();
        again.push(new_item(ann.id, "line 4", None));
        assert_eq!(repo.create_batch(again).await.unwrap(), 1);
        let gone = repo.create(new_item(ann.id, "gone", None)).await.unwrap();
        repo.delete(gone.id).await.unwrap();
        repo.create(new_item(bob.id, "b", None)).await.unwrap();

        // Each owner's count rows add up to their items.
        let mismatched = "(SELECT COALESCE(SUM(c.items), 0) FROM item_counts c WHERE c.owner_id = u.id) \
             <> (SELECT COUNT(*) FROM items i WHERE i.owner_id = u.id)";
        assert_eq!(
            count(&db.conn, "users u", mismatched).await,
            0,
            "{}",
            db.backend
        );
        let total = async |owner| {
            // A repository of its own: nothing remembered from before.
            SeaItemRepository::new(db.conn.clone())
                .list(search(Some(owner), ""), Sort::default(), page(1, 0))
                .await
                .unwrap()
                .total
        };
        assert_eq!(total(ann.id).await, 8, "{}", db.backend);
        assert_eq!(total(bob.id).await, 1, "{}", db.backend);

        // The total is the kept count, not a COUNT(*).
        db.conn
            .execute_unprepared("UPDATE item_counts SET items = items + 100")
            .await
            .unwrap();
        assert_eq!(total(bob.id).await, 101, "{}", db.backend);
        db.conn
            .execute_unprepared("UPDATE item_counts SET items = items - 100")
            .await
            .unwrap();

        // An owner's deletion takes their items and their count along.
        SeaUserRepository::new(db.conn.clone())
            .delete(ann.id)
            .await
            .unwrap();
        assert_eq!(
            count(&db.conn, "item_counts", "1 = 1").await,
            1,
            "{}",
            db.backend
        );
        assert_eq!(
            count(&db.conn, "users u", mismatched).await,
            0,
            "{}",
            db.backend
        );
        let cid = create_user(&db.conn, "cid@example.com", "cid").await;
        assert_eq!(total(cid.id).await, 0);
    }
}

#[tokio::test]
async fn update_with_the_right_version_bumps_version_and_updated_at() {
    for db in test_databases().await {
        let repo = SeaItemRepository::new(db.conn.clone());
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        let item = repo
            .create(new_item(ann.id, "Milk", Some("whole")))
            .await
            .unwrap();
        let later = item.created_at + Duration::seconds(3);

        let updated = repo
            .update(
                item.id,
                ItemChanges {
                    title: Some(Title::parse("Oat milk").unwrap()),
                    description: Some(None),
                },
                Some(1),
                later,
            )
            .await
            .unwrap();
        assert_eq!(updated.version, 2, "{}", db.backend);
        assert_eq!(updated.title.as_str(), "Oat milk");
        assert_eq!(updated.description, None);
        assert_eq!(updated.created_at, item.created_at);
        assert_eq!(updated.updated_at, later);
        assert_eq!(repo.find(item.id).await.unwrap(), updated);

        // Without a precondition the update always applies, and still counts.
        let even_later = later + Duration::seconds(1);
        let unconditional = repo
            .update(
                item.id,
                ItemChanges {
                    description: Some(Some(Description::parse("barista").unwrap())),
                    ..ItemChanges::default()
                },
                None,
                even_later,
            )
            .await
            .unwrap();
        assert_eq!(unconditional.version, 3);
        assert_eq!(unconditional.title.as_str(), "Oat milk");
        assert_eq!(unconditional.description.unwrap().as_str(), "barista");
        assert_eq!(unconditional.updated_at, even_later);
    }
}

#[tokio::test]
async fn update_with_a_stale_version_is_a_version_mismatch_and_changes_nothing() {
    for db in test_databases().await {
        let repo = SeaItemRepository::new(db.conn.clone());
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        let item = repo.create(new_item(ann.id, "Milk", None)).await.unwrap();
        let current = repo
            .update(item.id, ItemChanges::default(), Some(1), now())
            .await
            .unwrap();
        assert_eq!(current.version, 2);

        let err = repo
            .update(
                item.id,
                ItemChanges {
                    title: Some(Title::parse("Stale").unwrap()),
                    ..ItemChanges::default()
                },
                Some(1),
                now() + Duration::seconds(10),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, RepoError::VersionMismatch),
            "{}: {err:?}",
            db.backend
        );
        assert_eq!(repo.find(item.id).await.unwrap(), current, "{}", db.backend);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_concurrent_updates_with_the_same_expected_version_let_exactly_one_succeed() {
    for db in test_databases().await {
        let repo = SeaItemRepository::new(db.conn.clone());
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        let item = repo.create(new_item(ann.id, "Milk", None)).await.unwrap();

        let mut tasks = tokio::task::JoinSet::new();
        for title in ["First", "Second"] {
            let repo = repo.clone();
            tasks.spawn(async move {
                let changes = ItemChanges {
                    title: Some(Title::parse(title).unwrap()),
                    ..ItemChanges::default()
                };
                repo.update(item.id, changes, Some(1), now()).await
            });
        }
        let mut winners = Vec::new();
        while let Some(result) = tasks.join_next().await {
            match result.unwrap() {
                Ok(updated) => winners.push(updated),
                Err(RepoError::VersionMismatch) => {}
                Err(other) => panic!("{}: unexpected {other:?}", db.backend),
            }
        }
        assert_eq!(winners.len(), 1, "{}", db.backend);
        let stored = repo.find(item.id).await.unwrap();
        assert_eq!(stored.version, 2);
        assert_eq!(stored, winners[0]);
    }
}

#[tokio::test]
async fn updating_or_deleting_a_missing_item_is_not_found() {
    for db in test_databases().await {
        let repo = SeaItemRepository::new(db.conn.clone());
        let missing = Uuid::now_v7();
        for expected_version in [None, Some(1)] {
            assert_not_found(
                repo.update(missing, ItemChanges::default(), expected_version, now())
                    .await,
                db.backend,
            );
        }
        assert_not_found(repo.delete(missing).await, db.backend);
        assert_not_found(repo.find(missing).await, db.backend);
    }
}

#[tokio::test]
async fn a_deleted_item_is_gone_and_others_stay() {
    for db in test_databases().await {
        let repo = SeaItemRepository::new(db.conn.clone());
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        let doomed = repo.create(new_item(ann.id, "Milk", None)).await.unwrap();
        let kept = repo.create(new_item(ann.id, "Eggs", None)).await.unwrap();
        repo.delete(doomed.id).await.unwrap();
        assert!(is_not_found(repo.find(doomed.id).await));
        assert_eq!(repo.find(kept.id).await.unwrap(), kept, "{}", db.backend);
        assert!(is_not_found(repo.delete(doomed.id).await));
    }
}

#[tokio::test]
async fn deleting_a_user_deletes_their_items() {
    for db in test_databases().await {
        let repo = SeaItemRepository::new(db.conn.clone());
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        let bob = create_user(&db.conn, "bob@example.com", "bob").await;
        repo.create(new_item(ann.id, "Milk", None)).await.unwrap();
        repo.create(new_item(ann.id, "Eggs", None)).await.unwrap();
        let bobs = repo.create(new_item(bob.id, "Bread", None)).await.unwrap();

        SeaUserRepository::new(db.conn.clone())
            .delete(ann.id)
            .await
            .unwrap();

        assert_eq!(count(&db.conn, "items", "1 = 1").await, 1, "{}", db.backend);
        let left = repo
            .list(
                ItemFilter::default(),
                Sort::default(),
                PageRequest::default(),
            )
            .await
            .unwrap();
        assert_eq!(left.items, [bobs]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_inserts_from_two_repositories_all_land() {
    for db in test_databases().await {
        let owner = create_user(&db.conn, "many@example.com", "many").await;
        // Two repositories on one database, as the app wires items and posts:
        // their writes queue behind one another instead of failing as busy.
        let repos = [
            SeaItemRepository::new(db.conn.clone()),
            SeaItemRepository::new(db.conn.clone()),
        ];
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..64 {
            let repo = repos[i % 2].clone();
            tasks.spawn(async move {
                let item = repo
                    .create(new_item(owner.id, &format!("Item {i}"), None))
                    .await?;
                // A read between writes is not held up by the queue.
                repo.find(item.id).await
            });
        }
        while let Some(result) = tasks.join_next().await {
            if let Err(err) = result.unwrap() {
                panic!("{}: a concurrent insert failed: {err:?}", db.backend);
            }
        }
        assert_eq!(
            count(&db.conn, "items", "1 = 1").await,
            64,
            "{}",
            db.backend
        );
    }
}

#[tokio::test]
async fn totals_follow_every_write_of_the_process_at_once() {
    for db in test_databases().await {
        let items = SeaItemRepository::new(db.conn.clone());
        // Writes through other repositories on the same database count too.
        let other_items = SeaItemRepository::new(db.conn.clone());
        let users = SeaUserRepository::new(db.conn.clone());
        let owner = create_user(&db.conn, "tally@example.com", "tally").await;
        let mine = ItemFilter {
            owner_id: Some(owner.id),
            q: None,
        };
        let sort = by(ItemSortField::CreatedAt, Direction::Desc);
        // Past the first item: the page is empty or full, so it never proves
        // the total itself, and every total is counted or reused.
        let total = async |repo: &SeaItemRepository| {
            repo.list(mine.clone(), sort, page(1, 1))
                .await
                .unwrap()
                .total
        };

        assert_eq!(total(&items).await, 0, "{}", db.backend);
        let first = items
            .create(new_item(owner.id, "First", None))
            .await
            .unwrap();
        assert_eq!(total(&items).await, 1, "{}", db.backend);
        assert_eq!(total(&items).await, 1, "{}: asked again", db.backend);
        other_items
            .create(new_item(owner.id, "Second", None))
            .await
            .unwrap();
        assert_eq!(total(&items).await, 2, "{}", db.backend);
        items.delete(first.id).await.unwrap();
        assert_eq!(total(&items).await, 1, "{}", db.backend);
        // Deleting the account takes its items along (ON DELETE CASCADE).
        users.delete(owner.id).await.unwrap();
        assert_eq!(total(&items).await, 0, "{}", db.backend);
    }
}

#[tokio::test]
async fn a_page_shorter_than_its_limit_is_listed_without_a_count() {
    for db in test_databases().await {
        let owner = create_user(&db.conn, "short@example.com", "short").await;
        let setup = SeaItemRepository::new(db.conn.clone());
        for title in ["One", "Two", "Three"] {
            setup.create(new_item(owner.id, title, None)).await.unwrap();
        }
        let (counted, statements) = counting_statements(&db.conn);
        let mine = search(Some(owner.id), "");
        let sort = by(ItemSortField::Title, Direction::Asc);
        // A repository per list, so that none reuses another's total.
        let list = async |limit, offset| {
            let found = SeaItemRepository::new(counted.clone())
                .list(mine.clone(), sort, page(limit, offset))
                .await
                .unwrap();
            (found.items.len(), found.total, take(&statements))
        };

        // (rows, total, statements): the short pages need no COUNT(*).
        assert_eq!(list(20, 0).await, (3, 3, 1), "{}", db.backend);
        assert_eq!(list(2, 2).await, (1, 3, 1), "{}", db.backend);
        // A full page, or an empty one past the end, is counted.
        assert_eq!(list(3, 0).await, (3, 3, 2), "{}", db.backend);
        assert_eq!(list(2, 5).await, (0, 3, 2), "{}", db.backend);
    }
}

#[tokio::test]
async fn a_batch_inserts_what_is_new_and_a_repeat_skips_what_exists() {
    for db in test_databases().await {
        let repo = SeaItemRepository::new(db.conn.clone());
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        let batch: Vec<NewItem> = (0..3)
            .map(|n| new_item(ann.id, &format!("line {n}"), None))
            .collect();
        assert_eq!(repo.create_batch(Vec::new()).await.unwrap(), 0);
        assert_eq!(
            repo.create_batch(batch.clone()).await.unwrap(),
            3,
            "{}",
            db.backend
        );
        // A full page: its total is counted (and, on SQLite, remembered).
        let listed = async || {
            repo.list(search(Some(ann.id), ""), Sort::default(), page(2, 0))
                .await
                .unwrap()
                .total
        };
        assert_eq!(listed().await, 3, "{}", db.backend);

        let mut again = batch.clone();
        again.push(new_item(ann.id, "line 3", Some("new")));
        assert_eq!(repo.create_batch(again).await.unwrap(), 1, "{}", db.backend);
        // The batch told the remembered total it is stale.
        assert_eq!(listed().await, 4, "{}", db.backend);
        let stored = repo.find(batch[1].id).await.unwrap();
        assert_eq!(stored.title.as_str(), "line 1");
        assert_eq!(stored.version, 1);
        assert_eq!(stored.created_at, batch[1].created_at);

        // One missing owner and nothing of the batch is kept.
        let orphaned = vec![
            new_item(ann.id, "kept?", None),
            new_item(Uuid::now_v7(), "orphan", None),
        ];
        assert_not_found(repo.create_batch(orphaned).await, db.backend);
        assert_eq!(count(&db.conn, "items", "1 = 1").await, 4, "{}", db.backend);
    }
}
