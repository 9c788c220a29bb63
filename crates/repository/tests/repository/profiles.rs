//! Profiles and follows on every backend.

use strata_domain::profiles::{Bio, ImageUrl, ProfileRepository, ProfileUpdate};
use strata_domain::users::{UserChanges, UserRepository};
use strata_repository::{SeaProfileRepository, SeaUserRepository};
use uuid::Uuid;

use crate::common::{count, create_user, is_not_found, now, test_databases};

#[tokio::test]
async fn a_profile_is_found_by_name_case_insensitively_with_empty_fields_until_set() {
    for db in test_databases().await {
        let repo = SeaProfileRepository::new(db.conn.clone());
        let ann = create_user(&db.conn, "ann@example.com", "Ann").await;

        let found = repo.find_by_username("ANN", None).await.unwrap();
        assert_eq!(found.user_id, ann.id, "{}", db.backend);
        assert_eq!(found.username, "Ann");
        assert_eq!(
            (found.bio, found.image, found.following),
            (None, None, false)
        );
        assert!(is_not_found(repo.find_by_username("nobody", None).await));
        assert!(is_not_found(repo.find_by_username("a%", None).await));
    }
}

#[tokio::test]
async fn an_update_changes_only_the_fields_given_and_empty_clears() {
    for db in test_databases().await {
        let repo = SeaProfileRepository::new(db.conn.clone());
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;

        let set = repo
            .update(
                ann.id,
                ProfileUpdate {
                    bio: Some(Some(Bio::parse("Writes things").unwrap())),
                    image: Some(Some(ImageUrl::parse("https://e.com/a.png").unwrap())),
                },
            )
            .await
            .unwrap();
        assert_eq!(set.bio.as_ref().map(Bio::as_str), Some("Writes things"));
        assert_eq!(
            set.image.as_ref().map(ImageUrl::as_str),
            Some("https://e.com/a.png")
        );

        // Only the image: the bio stays.
        let image_cleared = repo
            .update(
                ann.id,
                ProfileUpdate {
                    image: Some(None),
                    ..ProfileUpdate::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(image_cleared.image, None, "{}", db.backend);
        assert_eq!(
            image_cleared.bio.as_ref().map(Bio::as_str),
            Some("Writes things")
        );

        // An empty bio is stored as none.
        let emptied = repo
            .update(
                ann.id,
                ProfileUpdate {
                    bio: Some(Some(Bio::parse("").unwrap())),
                    ..ProfileUpdate::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(emptied.bio, None, "{}", db.backend);
        assert_eq!(count(&db.conn, "profiles", "bio IS NULL").await, 1);

        let missing = repo
            .update(
                Uuid::now_v7(),
                ProfileUpdate {
                    bio: Some(None),
                    ..ProfileUpdate::default()
                },
            )
            .await;
        assert!(is_not_found(missing), "{}", db.backend);
    }
}

#[tokio::test]
async fn following_is_idempotent_seen_per_viewer_and_gone_with_the_account() {
    for db in test_databases().await {
        let repo = SeaProfileRepository::new(db.conn.clone());
        let users = SeaUserRepository::new(db.conn.clone());
        let ann = create_user(&db.conn, "ann@example.com", "ann").await;
        let bob = create_user(&db.conn, "bob@example.com", "bob").await;
        let cy = create_user(&db.conn, "cyd@example.com", "cyd").await;

        repo.follow(ann.id, bob.id).await.unwrap();
        repo.follow(ann.id, bob.id).await.unwrap();
        assert_eq!(
            count(&db.conn, "follows", "1 = 1").await,
            1,
            "{}",
            db.backend
        );

        assert!(
            repo.find_by_username("bob", Some(ann.id))
                .await
                .unwrap()
                .following
        );
        assert!(
            !repo
                .find_by_username("bob", Some(cy.id))
                .await
                .unwrap()
                .following
        );
        assert!(!repo.find_by_username("bob", None).await.unwrap().following);

        let mut many = repo
            .find_many(vec![bob.id, cy.id, Uuid::now_v7()], Some(ann.id))
            .await
            .unwrap();
        many.sort_by(|a, b| a.username.cmp(&b.username));
        let seen: Vec<(&str, bool)> = many
            .iter()
            .map(|p| (p.username.as_str(), p.following))
            .collect();
        assert_eq!(seen, [("bob", true), ("cyd", false)], "{}", db.backend);

        repo.unfollow(ann.id, bob.id).await.unwrap();
        repo.unfollow(ann.id, bob.id).await.unwrap();
        assert!(
            !repo
                .find_by_username("bob", Some(ann.id))
                .await
                .unwrap()
                .following
        );

        // A follow of a missing account is refused by the foreign key.
        assert!(is_not_found(repo.follow(ann.id, Uuid::now_v7()).await));

        // Deactivated accounts have no public profile.
        repo.follow(ann.id, cy.id).await.unwrap();
        users
            .update(
                cy.id,
                UserChanges {
                    is_active: Some(false),
                    ..UserChanges::default()
                },
                now(),
            )
            .await
            .unwrap();
        assert!(is_not_found(repo.find_by_username("cyd", None).await));
        users.delete(cy.id).await.unwrap();
        assert_eq!(
            count(&db.conn, "follows", "1 = 1").await,
            0,
            "{}",
            db.backend
        );
    }
}
