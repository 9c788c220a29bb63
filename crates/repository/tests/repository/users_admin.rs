use std::collections::HashSet;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use strata_domain::page::{Direction, Sort, search_text};
use strata_domain::users::{
    DailyCount, FullName, Role, User, UserChanges, UserFilter, UserRepository, UserSortField,
    UserStats,
};
use strata_repository::SeaUserRepository;
use uuid::Uuid;

use crate::common::{new_user, now, page, test_databases};

fn by(field: UserSortField, direction: Direction) -> Sort<UserSortField> {
    Sort { field, direction }
}

fn usernames(users: &[User]) -> Vec<&str> {
    users.iter().map(|u| u.username.as_str()).collect()
}

fn at(day: u32, hour: u32, minute: u32, second: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, hour, minute, second)
        .single()
        .unwrap()
}

/// Inserts an account with the given details (and `created_at`).
async fn insert(
    repo: &SeaUserRepository,
    email: &str,
    username: &str,
    full_name: Option<&str>,
    role: Role,
    created_at: DateTime<Utc>,
) -> User {
    let mut input = new_user(email, username);
    input.full_name = full_name.and_then(|n| FullName::parse(n).unwrap());
    input.role = role;
    input.created_at = created_at;
    repo.create(input).await.unwrap()
}

async fn deactivate(repo: &SeaUserRepository, user: &User) {
    repo.update(
        user.id,
        UserChanges {
            is_active: Some(false),
            ..UserChanges::default()
        },
        now(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn list_filters_by_q_over_email_username_and_full_name_in_any_case() {
    for db in test_databases().await {
        let repo = SeaUserRepository::new(db.conn.clone());
        let t = now();
        insert(&repo, "zed@mailhost.org", "alpha", None, Role::User, t).await;
        insert(&repo, "beta@example.com", "MailMan", None, Role::User, t).await;
        insert(
            &repo,
            "gamma@example.com",
            "gamma",
            Some("Ada MAILer"),
            Role::User,
            t,
        )
        .await;
        insert(
            &repo,
            "delta@example.com",
            "delta",
            Some("Nobody"),
            Role::User,
            t,
        )
        .await;
        insert(
            &repo,
            "under_score@example.com",
            "epsilon",
            None,
            Role::User,
            t,
        )
        .await;
        let sort = by(UserSortField::Username, Direction::Asc);
        let q = |q: &str| UserFilter {
            q: search_text(Some(q)),
            ..UserFilter::default()
        };

        let mail = repo.list(q("MAIL"), sort, page(20, 0)).await.unwrap();
        assert_eq!(
            usernames(&mail.items),
            ["alpha", "gamma", "MailMan"],
            "{}",
            db.backend
        );
        assert_eq!(mail.total, 3);

        // As a wildcard, '_' would match the "l" of every "mail".
        let literal = repo.list(q("mai_"), sort, page(20, 0)).await.unwrap();
        assert!(literal.items.is_empty(), "{}: '_' is literal", db.backend);
        assert_eq!(literal.total, 0);
        let underscore = repo.list(q("R_S"), sort, page(20, 0)).await.unwrap();
        assert_eq!(usernames(&underscore.items), ["epsilon"], "{}", db.backend);

        // Full names fold case beyond ASCII too, on SQLite as on PostgreSQL.
        insert(
            &repo,
            "zoe@example.com",
            "zoe",
            Some("ZOË ÉLAN"),
            Role::User,
            t,
        )
        .await;
        let accented = repo.list(q("zoë élan"), sort, page(20, 0)).await.unwrap();
        assert_eq!(usernames(&accented.items), ["zoe"], "{}", db.backend);
    }
}

#[tokio::test]
async fn list_filters_by_role_and_by_is_active_and_combines_filters() {
    for db in test_databases().await {
        let repo = SeaUserRepository::new(db.conn.clone());
        let t = now();
        insert(&repo, "a@example.com", "admin_on", None, Role::Admin, t).await;
        let admin_off = insert(&repo, "b@example.com", "admin_off", None, Role::Admin, t).await;
        insert(&repo, "c@example.com", "user_on", None, Role::User, t).await;
        let user_off = insert(&repo, "d@example.com", "user_off", None, Role::User, t).await;
        deactivate(&repo, &admin_off).await;
        deactivate(&repo, &user_off).await;
        let sort = by(UserSortField::Username, Direction::Asc);
        let filter = |role: Option<Role>, is_active: Option<bool>| UserFilter {
            q: None,
            role,
            is_active,
        };

        for (role, is_active, expected) in [
            (Some(Role::Admin), None, vec!["admin_off", "admin_on"]),
            (Some(Role::User), None, vec!["user_off", "user_on"]),
            (None, Some(true), vec!["admin_on", "user_on"]),
            (None, Some(false), vec!["admin_off", "user_off"]),
            (Some(Role::Admin), Some(false), vec!["admin_off"]),
            (
                None,
                None,
                vec!["admin_off", "admin_on", "user_off", "user_on"],
            ),
        ] {
            let found = repo
                .list(filter(role, is_active), sort, page(20, 0))
                .await
                .unwrap();
            assert_eq!(
                usernames(&found.items),
                expected,
                "{}: {role:?} {is_active:?}",
                db.backend
            );
            assert_eq!(found.total, expected.len() as u64);
        }
    }
}

#[tokio::test]
async fn list_sorts_by_created_at_email_and_username_in_both_directions() {
    for db in test_databases().await {
        let repo = SeaUserRepository::new(db.conn.clone());
        let t = now();
        // Each key orders the three differently; "Charlie" sorts among the
        // lower-case names because usernames sort case-insensitively.
        insert(&repo, "c@example.com", "alpha", None, Role::User, t).await;
        insert(
            &repo,
            "a@example.com",
            "Charlie",
            None,
            Role::User,
            t + Duration::seconds(1),
        )
        .await;
        insert(
            &repo,
            "b@example.com",
            "bravo",
            None,
            Role::User,
            t + Duration::seconds(2),
        )
        .await;

        for (field, ascending) in [
            (UserSortField::CreatedAt, ["alpha", "Charlie", "bravo"]),
            (UserSortField::Email, ["Charlie", "bravo", "alpha"]),
            (UserSortField::Username, ["alpha", "bravo", "Charlie"]),
        ] {
            let asc = repo
                .list(
                    UserFilter::default(),
                    by(field, Direction::Asc),
                    page(20, 0),
                )
                .await
                .unwrap();
            assert_eq!(
                usernames(&asc.items),
                ascending,
                "{}: {field:?} asc",
                db.backend
            );
            let desc = repo
                .list(
                    UserFilter::default(),
                    by(field, Direction::Desc),
                    page(20, 0),
                )
                .await
                .unwrap();
            let mut descending = ascending.to_vec();
            descending.reverse();
            assert_eq!(
                usernames(&desc.items),
                descending,
                "{}: {field:?} desc",
                db.backend
            );
        }
    }
}

#[tokio::test]
async fn list_pages_with_limit_offset_and_total_and_breaks_ties_by_id() {
    for db in test_databases().await {
        let repo = SeaUserRepository::new(db.conn.clone());
        let t = now();
        let mut ids = Vec::new();
        for i in 0..5 {
            let user = insert(
                &repo,
                &format!("u{i}@example.com"),
                &format!("user{i}"),
                None,
                Role::User,
                t,
            )
            .await;
            ids.push(user.id);
        }
        // All share created_at: the order is the ids', descending like the sort.
        ids.sort();
        ids.reverse();
        let sort = by(UserSortField::CreatedAt, Direction::Desc);
        let mut seen = Vec::new();
        for (offset, expected_len) in [(0, 2), (2, 2), (4, 1), (6, 0)] {
            let found = repo
                .list(UserFilter::default(), sort, page(2, offset))
                .await
                .unwrap();
            assert_eq!(
                found.items.len(),
                expected_len,
                "{}: offset {offset}",
                db.backend
            );
            assert_eq!(
                (found.total, found.limit, found.offset),
                (5, 2, offset as u64)
            );
            seen.extend(found.items.iter().map(|u| u.id));
        }
        assert_eq!(seen, ids, "{}", db.backend);
    }
}

#[tokio::test]
async fn stats_count_totals_active_users_admins_and_daily_sign_ups_since_the_bound() {
    for db in test_databases().await {
        let repo = SeaUserRepository::new(db.conn.clone());
        insert(
            &repo,
            "old@example.com",
            "old",
            None,
            Role::User,
            at(1, 12, 0, 0),
        )
        .await;
        // The bound is inclusive, and days are UTC calendar days.
        insert(
            &repo,
            "a@example.com",
            "day10_a",
            None,
            Role::Admin,
            at(10, 0, 0, 0),
        )
        .await;
        let late = at(10, 23, 59, 59) + Duration::microseconds(999_999);
        let gone = insert(&repo, "b@example.com", "day10_b", None, Role::User, late).await;
        insert(
            &repo,
            "c@example.com",
            "day12",
            None,
            Role::Admin,
            at(12, 8, 30, 0),
        )
        .await;
        deactivate(&repo, &gone).await;

        let stats = repo.stats(at(10, 0, 0, 0)).await.unwrap();
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
        assert_eq!(
            stats,
            UserStats {
                total: 4,
                active: 3,
                admins: 2,
                signups: vec![
                    DailyCount {
                        date: day(10),
                        count: 2
                    },
                    DailyCount {
                        date: day(12),
                        count: 1
                    },
                ],
            },
            "{}",
            db.backend
        );

        let everything = repo.stats(DateTime::<Utc>::MIN_UTC).await.unwrap();
        let days: Vec<(NaiveDate, u64)> = everything
            .signups
            .iter()
            .map(|d| (d.date, d.count))
            .collect();
        assert_eq!(
            days,
            [(day(1), 1), (day(10), 2), (day(12), 1)],
            "{}",
            db.backend
        );

        let future = repo.stats(at(20, 0, 0, 0)).await.unwrap();
        assert!(future.signups.is_empty());
        assert_eq!(future.total, 4);
    }
}

#[tokio::test]
async fn stats_of_an_empty_database_are_all_zero() {
    for db in test_databases().await {
        let repo = SeaUserRepository::new(db.conn.clone());
        let stats = repo.stats(now() - Duration::days(30)).await.unwrap();
        assert_eq!(
            stats,
            UserStats {
                total: 0,
                active: 0,
                admins: 0,
                signups: vec![],
            },
            "{}",
            db.backend
        );
    }
}

#[tokio::test]
async fn export_batches_walk_every_user_in_id_order_without_duplicates_or_gaps() {
    for db in test_databases().await {
        let repo = SeaUserRepository::new(db.conn.clone());
        let mut expected = Vec::new();
        for i in 0..23 {
            let mut input = new_user(&format!("u{i}@example.com"), &format!("user{i}"));
            // Random ids too, so the order is the ids' and not insertion's.
            if i % 2 == 0 {
                input.id = Uuid::new_v4();
            }
            expected.push(repo.create(input).await.unwrap());
        }
        expected.sort_by_key(|u| u.id);

        let mut walked: Vec<User> = Vec::new();
        let mut after = None;
        let mut batches = 0;
        loop {
            let batch = repo.export_batch(after, 5).await.unwrap();
            assert!(batch.len() <= 5);
            let Some(last) = batch.last() else { break };
            after = Some(last.id);
            walked.extend(batch);
            batches += 1;
        }
        assert_eq!(batches, 5, "{}", db.backend);
        let unique: HashSet<Uuid> = walked.iter().map(|u| u.id).collect();
        assert_eq!(unique.len(), walked.len(), "{}: duplicates", db.backend);
        assert_eq!(walked, expected, "{}", db.backend);
    }
}
