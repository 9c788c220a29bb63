//! Owner-scoped items.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::RepoError;
/// Kept here for the callers that bounded text through items first.
pub use crate::fields::bounded_text;
use crate::fields::{Line, Text};
use crate::idempotency::Completion;
use crate::page::{After, Page, PageRequest, Sort};

const TITLE_MAX: usize = 200;
const DESCRIPTION_MAX: usize = 10_000;

/// A non-blank title of at most 200 characters, stored trimmed; shared by
/// items and posts, which have the same title rule.
pub type Title = Line<TITLE_MAX>;

/// Multi-line free text of at most 10 000 characters.
pub type Description = Text<DESCRIPTION_MAX>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub id: Uuid,
    pub title: Title,
    pub description: Option<Description>,
    pub owner_id: Uuid,
    /// Incremented by every update; the HTTP layer's `ETag`.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewItem {
    pub id: Uuid,
    pub title: Title,
    pub description: Option<Description>,
    pub owner_id: Uuid,
    pub created_at: DateTime<Utc>,
}

/// A partial update; `description: Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemChanges {
    pub title: Option<Title>,
    pub description: Option<Option<Description>>,
}

impl ItemChanges {
    /// The changes as a client sends them: an absent field stays, a null
    /// description is removed.
    ///
    /// # Errors
    /// Every bad field, named (`title`, `description`).
    pub fn parse(
        title: Option<&str>,
        description: Option<Option<&str>>,
    ) -> Result<Self, crate::ValidationErrors> {
        let mut errors = crate::ValidationErrors::default();
        let title = title.and_then(|raw| errors.check("title", Title::parse(raw)));
        let description = description.and_then(|raw| {
            raw.map_or(Some(None), |raw| {
                errors
                    .check("description", Description::parse(raw))
                    .map(Some)
            })
        });
        errors.into_result()?;
        Ok(Self { title, description })
    }
}

pub type ItemSortField = crate::page::TitledSortField;

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ItemFilter {
    /// Only this owner's items; `None` means every owner (admins only).
    pub owner_id: Option<Uuid>,
    /// Lower-cased text searched in title and description.
    pub q: Option<String>,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ItemRepository: Send + Sync {
    /// Inserts an item.
    ///
    /// With `once`, its attempt is completed in the same transaction (see
    /// [`crate::idempotency`]).
    ///
    /// # Errors
    /// [`RepoError::NotFound`] when the owner does not exist;
    /// [`RepoError::ClaimLost`] when `once`'s attempt lost its key (nothing
    /// is written).
    async fn create_keyed(
        &self,
        item: NewItem,
        once: Option<Completion<Item>>,
    ) -> Result<Item, RepoError>;

    /// [`Self::create_keyed`] without a key.
    ///
    /// # Errors
    /// As [`Self::create_keyed`].
    async fn create(&self, item: NewItem) -> Result<Item, RepoError> {
        self.create_keyed(item, None).await
    }

    /// Inserts every item in one transaction, skipping any whose id already
    /// exists, and returns how many were inserted. Callers that derive ids
    /// from their input (an import's job and line) can therefore repeat a
    /// batch after a crash without creating duplicates.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] when an owner does not exist (nothing is
    /// inserted).
    async fn create_batch(&self, items: Vec<NewItem>) -> Result<u64, RepoError>;

    /// # Errors
    /// [`RepoError::NotFound`] when no item has this id.
    async fn find(&self, id: Uuid) -> Result<Item, RepoError>;

    /// A page of items matching `filter`, in `sort` order (ties by id), with
    /// the total count, in a constant number of queries.
    ///
    /// # Errors
    /// Only storage failures.
    async fn list(
        &self,
        filter: ItemFilter,
        sort: Sort<ItemSortField>,
        page: PageRequest,
    ) -> Result<Page<Item>, RepoError>;

    /// Like [`list`](Self::list), from a keyset position instead of an
    /// offset (`page`'s offset is ignored): the rows after `after` in `sort`
    /// order. The total still counts every row matching `filter`.
    ///
    /// # Errors
    /// Only storage failures.
    async fn list_after(
        &self,
        filter: ItemFilter,
        sort: Sort<ItemSortField>,
        after: After,
        page: PageRequest,
    ) -> Result<Page<Item>, RepoError>;

    /// Applies `changes`, increments `version` and sets `updated_at`, but only
    /// when the stored version equals `expected_version` (if given): a
    /// compare-and-set, so concurrent updates with the same precondition
    /// cannot both succeed.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] when the item is gone;
    /// [`RepoError::VersionMismatch`] when the version moved on.
    async fn update(
        &self,
        id: Uuid,
        changes: ItemChanges,
        expected_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<Item, RepoError>;

    /// # Errors
    /// [`RepoError::NotFound`] when the item is already gone.
    async fn delete(&self, id: Uuid) -> Result<(), RepoError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_trimmed_and_bounded() {
        assert_eq!(Title::parse("  Milk ").unwrap().as_str(), "Milk");
        assert!(Title::parse("   ").is_err());
        assert!(Title::parse(&"x".repeat(200)).is_ok());
        assert!(Title::parse(&"x".repeat(201)).is_err());
    }

    #[test]
    fn descriptions_allow_up_to_ten_thousand_characters() {
        assert!(Description::parse(&"é".repeat(10_000)).is_ok());
        assert_eq!(
            Description::parse(&"x".repeat(10_001)).unwrap_err().code,
            "length"
        );
    }
}
