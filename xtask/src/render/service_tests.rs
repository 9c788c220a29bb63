//! The unit tests appended to `crates/service/src/<plural>.rs`: the
//! flavour's authorization and the precondition, over a mocked repository.
//! Filled in with the service's own template.

pub const TEMPLATE: &str = r#"#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::test_support::caller;
    use strata_domain::RepoError;
    use strata_domain::__types__::Mock__Type__Repository;
    use strata_domain::users::Role;

    fn draft() -> __Type__Draft {
        __Type__Draft {
__SAMPLE__        }
    }

    fn stored(__OWNER_PARAM__: Uuid) -> __Type__ {
        let draft = draft();
        let now = Utc::now();
        __Type__ {
            id: Uuid::now_v7(),
#if owner
            owner_id,
#end owner
__FROM_SAMPLE__            version: 3,
            created_at: now,
            updated_at: now,
        }
    }

    fn service(repo: Mock__Type__Repository) -> __Type__ServiceImpl {
        __Type__ServiceImpl::new(Arc::new(repo))
    }

#if owner
    #[tokio::test]
    async fn a_new_row_belongs_to_its_creator() {
        let me = caller(Role::User);
        let mut repo = Mock__Type__Repository::new();
        repo.expect_create()
            .withf(move |new| new.owner_id == me.user_id && new.id != Uuid::nil())
            .times(1)
            .returning(|new| {
                let mut row = stored(new.owner_id);
                row.id = new.id;
                Ok(row)
            });
        let created = service(repo).create(&me, draft()).await.unwrap();
        assert_eq!(created.owner_id, me.user_id);
    }

    #[tokio::test]
    async fn the_owner_and_admins_may_change_a_row() {
        let me = caller(Role::User);
        let admin = caller(Role::Admin);
        let row = stored(me.user_id);
        let id = row.id;
        let mut repo = Mock__Type__Repository::new();
        repo.expect_find().returning(move |_| Ok(row.clone()));
        repo.expect_delete().times(2).returning(|_| Ok(()));
        let s = service(repo);
        s.delete(&me, id).await.unwrap();
        s.delete(&admin, id).await.unwrap();
    }
#end owner
#if owned

    #[tokio::test]
    async fn another_users_row_is_not_found_and_left_alone() {
        let row = stored(Uuid::now_v7());
        let id = row.id;
        let mut repo = Mock__Type__Repository::new();
        repo.expect_find().returning(move |_| Ok(row.clone()));
        repo.expect_update().never();
        repo.expect_delete().never();
        let s = service(repo);
        let other = caller(Role::User);
        assert!(matches!(s.get(&other, id).await, Err(ServiceError::NotFound)));
        assert!(matches!(
            s.update(&other, id, __Type__Changes::default(), None).await,
            Err(ServiceError::NotFound)
        ));
        assert!(matches!(s.delete(&other, id).await, Err(ServiceError::NotFound)));
    }

    #[tokio::test]
    async fn a_user_lists_only_their_own_rows() {
        let me = caller(Role::User);
        let mut repo = Mock__Type__Repository::new();
        repo.expect_list()
            .withf(move |filter, _, _| filter.owner_id == Some(me.user_id))
            .times(1)
            .returning(|_, _, page| Ok(Page::new(vec![], 0, page)));
        let s = service(repo);
        s.list(&me, __Type__Filter::default(), Sort::default(), PageRequest::default())
            .await
            .unwrap();
        let others = __Type__Filter {
            owner_id: Some(Uuid::now_v7()),
#if search
            ..__Type__Filter::default()
#end search
        };
        assert!(matches!(
            s.list(&me, others, Sort::default(), PageRequest::default()).await,
            Err(ServiceError::Forbidden)
        ));
    }
#end owned
#if public

    #[tokio::test]
    async fn another_user_may_read_but_not_change_a_row() {
        let row = stored(Uuid::now_v7());
        let id = row.id;
        let mut repo = Mock__Type__Repository::new();
        repo.expect_find().returning(move |_| Ok(row.clone()));
        repo.expect_update().never();
        repo.expect_delete().never();
        let s = service(repo);
        let other = caller(Role::User);
        assert_eq!(s.get(id).await.unwrap().id, id);
        assert!(matches!(
            s.update(&other, id, __Type__Changes::default(), None).await,
            Err(ServiceError::Forbidden)
        ));
        assert!(matches!(s.delete(&other, id).await, Err(ServiceError::Forbidden)));
    }
#end public
#if admin
    #[tokio::test]
    async fn only_admins_write_and_nothing_reaches_the_repository_otherwise() {
        let user = caller(Role::User);
        let mut repo = Mock__Type__Repository::new();
        repo.expect_create().never();
        repo.expect_find().never();
        repo.expect_update().never();
        repo.expect_delete().never();
        let s = service(repo);
        let id = Uuid::now_v7();
        assert!(matches!(s.create(&user, draft()).await, Err(ServiceError::Forbidden)));
        assert!(matches!(
            s.update(&user, id, __Type__Changes::default(), None).await,
            Err(ServiceError::Forbidden)
        ));
        assert!(matches!(s.delete(&user, id).await, Err(ServiceError::Forbidden)));
    }

    #[tokio::test]
    async fn an_admin_creates_what_was_drafted() {
        let admin = caller(Role::Admin);
        let mut repo = Mock__Type__Repository::new();
        repo.expect_create()
            .withf(|new| new.__FIRST__ == draft().__FIRST__)
            .times(1)
            .returning(|new| {
                let mut row = stored(Uuid::nil());
                row.id = new.id;
                Ok(row)
            });
        service(repo).create(&admin, draft()).await.unwrap();
    }
#end admin

    #[tokio::test]
    async fn a_stale_if_match_changes_nothing() {
        let admin = caller(Role::Admin);
        let row = stored(admin.user_id);
        let id = row.id;
        let mut repo = Mock__Type__Repository::new();
        repo.expect_find().returning(move |_| Ok(row.clone()));
        repo.expect_update()
            .returning(|_, _, _, _| Err(RepoError::VersionMismatch));
        let s = service(repo);
        // An empty change is checked against the version read.
        assert!(matches!(
            s.update(&admin, id, __Type__Changes::default(), Some(2)).await,
            Err(ServiceError::PreconditionFailed)
        ));
        assert_eq!(
            s.update(&admin, id, __Type__Changes::default(), Some(3))
                .await
                .unwrap()
                .version,
            3
        );
        // A real change meets the repository's compare-and-set.
        let changes = __Type__Changes {
            __FIRST__: Some(draft().__FIRST__),
            ..__Type__Changes::default()
        };
        assert!(matches!(
            s.update(&admin, id, changes, Some(2)).await,
            Err(ServiceError::PreconditionFailed)
        ));
    }
}
"#;
