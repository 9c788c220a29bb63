//! Pages, offset style: `limit` (1 to 100, 20 by default) and `offset`,
//! with the `total`, exactly as `/api/v1` pages. Offset rather than Relay
//! connections because the services page that way and clients of both APIs
//! then page alike; a page is bounded, so no field returns an unbounded list.

use async_graphql::{OutputType, SimpleObject};
use strata_domain::ValidationErrors;
use strata_domain::page::{Page, PageRequest};

use crate::catalog::{CategoryObject, ProductObject};
use crate::items::ItemObject;
use crate::jobs::JobObject;
use crate::notifications::NotificationObject;
use crate::orders::OrderObject;
use crate::posts::{CommentObject, PostObject};
use crate::users::UserObject;

#[derive(Debug, SimpleObject)]
#[graphql(concrete(name = "ItemPage", params(ItemObject)))]
#[graphql(concrete(name = "PostPage", params(PostObject)))]
#[graphql(concrete(name = "CommentPage", params(CommentObject)))]
#[graphql(concrete(name = "UserPage", params(UserObject)))]
#[graphql(concrete(name = "JobPage", params(JobObject)))]
#[graphql(concrete(name = "CategoryPage", params(CategoryObject)))]
#[graphql(concrete(name = "ProductPage", params(ProductObject)))]
#[graphql(concrete(name = "OrderPage", params(OrderObject)))]
#[graphql(concrete(name = "NotificationPage", params(NotificationObject)))]
pub(crate) struct PageOf<T: OutputType> {
    pub items: Vec<T>,
    /// How many there are in all, across pages.
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
}

impl<T: OutputType> PageOf<T> {
    pub(crate) fn from_page<D>(page: Page<D>, wrap: impl Fn(D) -> T) -> Self {
        Self {
            items: page.items.into_iter().map(wrap).collect(),
            total: page.total,
            limit: page.limit,
            offset: page.offset,
        }
    }
}

/// `limit` and `offset` under the REST rules and messages.
///
/// # Errors
/// `VALIDATION_FAILED` naming the argument.
pub(crate) fn request(
    limit: Option<i32>,
    offset: Option<i32>,
) -> async_graphql::Result<PageRequest> {
    PageRequest::new(limit.map(i64::from), offset.map(i64::from)).map_err(|(field, violation)| {
        crate::error::validation(ValidationErrors::single(field, violation))
    })
}
