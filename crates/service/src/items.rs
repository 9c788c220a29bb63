//! Items: each belongs to its owner; admins see and manage everyone's.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use strata_domain::ValidationErrors;
use strata_domain::auth::Principal;
use strata_domain::idempotency::Completion;
use strata_domain::items::{
    Description, Item, ItemChanges, ItemFilter, ItemRepository, ItemSortField, NewItem, Title,
};
use strata_domain::page::{After, Page, PageRequest, Sort};
use uuid::Uuid;

use crate::ServiceError;

/// A new item, already validated.
#[derive(Debug, Clone)]
pub struct ItemDraft {
    pub title: Title,
    pub description: Option<Description>,
}

impl ItemDraft {
    /// A new item as a client sends it.
    ///
    /// # Errors
    /// Every bad field, named (`title`, `description`).
    pub fn parse(title: &str, description: Option<&str>) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let title = errors.check("title", Title::parse(title));
        let description = description.map_or(Some(None), |raw| {
            errors
                .check("description", Description::parse(raw))
                .map(Some)
        });
        match (title, description) {
            (Some(title), Some(description)) => Ok(Self { title, description }),
            _ => Err(errors),
        }
    }
}

/// Item use cases. Another user's item is reported as not found, never as
/// forbidden, so ids cannot be probed for existence.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ItemService: Send + Sync {
    /// The caller's items; for an admin, everyone's, optionally one owner's.
    ///
    /// # Errors
    /// [`ServiceError::Forbidden`] when a non-admin filters by another owner.
    async fn list(
        &self,
        caller: &Principal,
        owner_id: Option<Uuid>,
        q: Option<String>,
        sort: Sort<ItemSortField>,
        page: PageRequest,
    ) -> Result<Page<Item>, ServiceError>;

    /// Like [`list`](Self::list), from a keyset position instead of an
    /// offset.
    ///
    /// # Errors
    /// As for `list`.
    async fn list_after(
        &self,
        caller: &Principal,
        owner_id: Option<Uuid>,
        q: Option<String>,
        sort: Sort<ItemSortField>,
        after: After,
        page: PageRequest,
    ) -> Result<Page<Item>, ServiceError>;

    /// Creates an item owned by the caller.
    /// With `once`, the request's idempotency attempt completes with it.
    ///
    /// # Errors
    /// Storage failures; [`ServiceError::IdempotencyInProgress`] when `once`
    /// lost its key.
    async fn create(
        &self,
        caller: &Principal,
        draft: ItemDraft,
        once: Option<Completion<Item>>,
    ) -> Result<Item, ServiceError>;

    /// # Errors
    /// [`ServiceError::NotFound`] when it does not exist or is not the
    /// caller's (unless admin).
    async fn get(&self, caller: &Principal, id: Uuid) -> Result<Item, ServiceError>;

    /// Applies `changes` if the item is still at `if_match` (when given).
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] as for `get`;
    /// [`ServiceError::PreconditionFailed`] when the version moved on, in
    /// which case nothing changed.
    async fn update(
        &self,
        caller: &Principal,
        id: Uuid,
        changes: ItemChanges,
        if_match: Option<i64>,
    ) -> Result<Item, ServiceError>;

    /// # Errors
    /// [`ServiceError::NotFound`] as for `get`.
    async fn delete(&self, caller: &Principal, id: Uuid) -> Result<(), ServiceError>;
}

pub struct ItemServiceImpl {
    items: Arc<dyn ItemRepository>,
}

impl std::fmt::Debug for ItemServiceImpl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItemServiceImpl").finish_non_exhaustive()
    }
}

impl ItemServiceImpl {
    pub fn new(items: Arc<dyn ItemRepository>) -> Self {
        Self { items }
    }

    /// The item, if the caller may see it.
    async fn visible(&self, caller: &Principal, id: Uuid) -> Result<Item, ServiceError> {
        let item = self.items.find(id).await?;
        if item.owner_id == caller.user_id || caller.is_admin() {
            Ok(item)
        } else {
            Err(ServiceError::NotFound)
        }
    }
}

/// The items `caller` may list: their own; for an admin, everyone's or
/// one owner's.
fn visible_filter(
    caller: &Principal,
    owner_id: Option<Uuid>,
    q: Option<String>,
) -> Result<ItemFilter, ServiceError> {
    let owner_id = match owner_id {
        Some(owner) if caller.is_admin() || owner == caller.user_id => Some(owner),
        Some(_) => return Err(ServiceError::Forbidden),
        None if caller.is_admin() => None,
        None => Some(caller.user_id),
    };
    Ok(ItemFilter { owner_id, q })
}

#[async_trait]
impl ItemService for ItemServiceImpl {
    async fn list(
        &self,
        caller: &Principal,
        owner_id: Option<Uuid>,
        q: Option<String>,
        sort: Sort<ItemSortField>,
        page: PageRequest,
    ) -> Result<Page<Item>, ServiceError> {
        let filter = visible_filter(caller, owner_id, q)?;
        Ok(self.items.list(filter, sort, page).await?)
    }

    async fn list_after(
        &self,
        caller: &Principal,
        owner_id: Option<Uuid>,
        q: Option<String>,
        sort: Sort<ItemSortField>,
        after: After,
        page: PageRequest,
    ) -> Result<Page<Item>, ServiceError> {
        let filter = visible_filter(caller, owner_id, q)?;
        Ok(self.items.list_after(filter, sort, after, page).await?)
    }

    async fn create(
        &self,
        caller: &Principal,
        draft: ItemDraft,
        once: Option<Completion<Item>>,
    ) -> Result<Item, ServiceError> {
        let item = NewItem {
            id: Uuid::now_v7(),
            title: draft.title,
            description: draft.description,
            owner_id: caller.user_id,
            created_at: Utc::now(),
        };
        Ok(self.items.create_keyed(item, once).await?)
    }

    async fn get(&self, caller: &Principal, id: Uuid) -> Result<Item, ServiceError> {
        self.visible(caller, id).await
    }

    async fn update(
        &self,
        caller: &Principal,
        id: Uuid,
        changes: ItemChanges,
        if_match: Option<i64>,
    ) -> Result<Item, ServiceError> {
        let current = self.visible(caller, id).await?;
        if changes == ItemChanges::default() {
            return match if_match {
                Some(version) if version != current.version => {
                    Err(ServiceError::PreconditionFailed)
                }
                _ => Ok(current),
            };
        }
        Ok(self.items.update(id, changes, if_match, Utc::now()).await?)
    }

    async fn delete(&self, caller: &Principal, id: Uuid) -> Result<(), ServiceError> {
        self.visible(caller, id).await?;
        Ok(self.items.delete(id).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::caller;
    use strata_domain::RepoError;
    use strata_domain::items::MockItemRepository;
    use strata_domain::users::Role;

    fn item(owner_id: Uuid) -> Item {
        let now = Utc::now();
        Item {
            id: Uuid::now_v7(),
            title: Title::parse("Milk").unwrap(),
            description: None,
            owner_id,
            version: 3,
            created_at: now,
            updated_at: now,
        }
    }

    #[tokio::test]
    async fn a_plain_user_lists_only_their_own_items() {
        let me = caller(Role::User);
        let mut repo = MockItemRepository::new();
        repo.expect_list()
            .withf(move |filter, _, _| filter.owner_id == Some(me.user_id))
            .times(2)
            .returning(|_, _, page| Ok(Page::new(vec![], 0, page)));
        let s = ItemServiceImpl::new(Arc::new(repo));
        s.list(&me, None, None, Sort::default(), PageRequest::default())
            .await
            .unwrap();
        s.list(
            &me,
            Some(me.user_id),
            None,
            Sort::default(),
            PageRequest::default(),
        )
        .await
        .unwrap();
        assert!(matches!(
            s.list(
                &me,
                Some(Uuid::now_v7()),
                None,
                Sort::default(),
                PageRequest::default()
            )
            .await,
            Err(ServiceError::Forbidden)
        ));
    }

    #[tokio::test]
    async fn a_keyset_page_is_scoped_like_an_offset_page() {
        use strata_domain::page::SortValue;
        let me = caller(Role::User);
        let after = After {
            value: SortValue::Text("milk".into()),
            id: Uuid::now_v7(),
        };
        let expected = after.clone();
        let mut repo = MockItemRepository::new();
        repo.expect_list_after()
            .withf(move |filter, _, at, _| filter.owner_id == Some(me.user_id) && *at == expected)
            .times(1)
            .returning(|_, _, _, page| Ok(Page::new(vec![], 0, page)));
        let s = ItemServiceImpl::new(Arc::new(repo));
        let page = PageRequest::default();
        s.list_after(&me, None, None, Sort::default(), after.clone(), page)
            .await
            .unwrap();
        let others = Some(Uuid::now_v7());
        assert!(matches!(
            s.list_after(&me, others, None, Sort::default(), after, page)
                .await,
            Err(ServiceError::Forbidden)
        ));
    }

    #[tokio::test]
    async fn an_admin_lists_everyones_items_or_one_owners() {
        let admin = caller(Role::Admin);
        let owner = Uuid::now_v7();
        let mut repo = MockItemRepository::new();
        repo.expect_list()
            .withf(|f, _, _| f.owner_id.is_none())
            .times(1)
            .returning(|_, _, p| Ok(Page::new(vec![], 0, p)));
        repo.expect_list()
            .withf(move |f, _, _| f.owner_id == Some(owner))
            .times(1)
            .returning(|_, _, p| Ok(Page::new(vec![], 0, p)));
        let s = ItemServiceImpl::new(Arc::new(repo));
        s.list(&admin, None, None, Sort::default(), PageRequest::default())
            .await
            .unwrap();
        s.list(
            &admin,
            Some(owner),
            None,
            Sort::default(),
            PageRequest::default(),
        )
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn another_users_item_is_not_found_for_every_operation() {
        let stranger = caller(Role::User);
        let theirs = item(Uuid::now_v7());
        let id = theirs.id;
        let mut repo = MockItemRepository::new();
        repo.expect_find().returning(move |_| Ok(theirs.clone()));
        repo.expect_update().never();
        repo.expect_delete().never();
        let s = ItemServiceImpl::new(Arc::new(repo));
        assert!(matches!(
            s.get(&stranger, id).await,
            Err(ServiceError::NotFound)
        ));
        let changes = ItemChanges {
            title: Some(Title::parse("Mine now").unwrap()),
            ..Default::default()
        };
        assert!(matches!(
            s.update(&stranger, id, changes, None).await,
            Err(ServiceError::NotFound)
        ));
        assert!(matches!(
            s.delete(&stranger, id).await,
            Err(ServiceError::NotFound)
        ));
    }

    #[tokio::test]
    async fn an_admin_may_update_anyones_item() {
        let admin = caller(Role::Admin);
        let theirs = item(Uuid::now_v7());
        let id = theirs.id;
        let mut repo = MockItemRepository::new();
        repo.expect_find().returning(move |_| Ok(theirs.clone()));
        repo.expect_update()
            .withf(|_, _, v, _| *v == Some(3))
            .times(1)
            .returning(|id, _, _, _| {
                let mut i = item(Uuid::now_v7());
                i.id = id;
                i.version = 4;
                Ok(i)
            });
        let s = ItemServiceImpl::new(Arc::new(repo));
        let changes = ItemChanges {
            description: Some(None),
            ..Default::default()
        };
        assert_eq!(
            s.update(&admin, id, changes, Some(3))
                .await
                .unwrap()
                .version,
            4
        );
    }

    #[tokio::test]
    async fn a_stale_if_match_is_a_failed_precondition() {
        let me = caller(Role::User);
        let mine = item(me.user_id);
        let id = mine.id;
        let mut repo = MockItemRepository::new();
        repo.expect_find().returning(move |_| Ok(mine.clone()));
        repo.expect_update()
            .returning(|_, _, _, _| Err(RepoError::VersionMismatch));
        let s = ItemServiceImpl::new(Arc::new(repo));
        let changes = ItemChanges {
            title: Some(Title::parse("New").unwrap()),
            ..Default::default()
        };
        assert!(matches!(
            s.update(&me, id, changes, Some(2)).await,
            Err(ServiceError::PreconditionFailed)
        ));
        // An empty patch checks the precondition without writing.
        assert!(matches!(
            s.update(&me, id, ItemChanges::default(), Some(2)).await,
            Err(ServiceError::PreconditionFailed)
        ));
        assert_eq!(
            s.update(&me, id, ItemChanges::default(), Some(3))
                .await
                .unwrap()
                .version,
            3
        );
    }

    #[tokio::test]
    async fn created_items_belong_to_the_caller() {
        let me = caller(Role::User);
        let mut repo = MockItemRepository::new();
        repo.expect_create_keyed()
            .withf(move |new, once| new.owner_id == me.user_id && once.is_none())
            .times(1)
            .returning(|new, _| {
                let mut i = item(new.owner_id);
                i.id = new.id;
                Ok(i)
            });
        let s = ItemServiceImpl::new(Arc::new(repo));
        let draft = ItemDraft {
            title: Title::parse("Milk").unwrap(),
            description: None,
        };
        assert_eq!(
            s.create(&me, draft, None).await.unwrap().owner_id,
            me.user_id
        );
    }
}
