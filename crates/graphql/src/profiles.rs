//! Public profiles, the authors of posts and comments: loaded through a
//! per-request DataLoader, so a page of posts asks for all its authors in
//! one call however many posts and comments name them.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Lookahead, MaybeUndefined, Object, Result};
use strata_domain::auth::Principal;
use strata_domain::posts::Author;
use strata_domain::profiles::{Profile, ProfileUpdate};
use strata_domain::users::Username;
use strata_service::ServiceError;
use strata_service::profiles::ProfileService;
use uuid::Uuid;

use crate::context::{caller, services, viewer, writer};
use crate::error;

/// An author as the caller sees them.
#[derive(Debug)]
pub(crate) struct ProfileObject(pub Profile);

#[Object(name = "Profile")]
impl ProfileObject {
    /// The account's id.
    async fn id(&self) -> Uuid {
        self.0.user_id
    }
    async fn username(&self) -> &str {
        &self.0.username
    }
    async fn bio(&self) -> Option<&str> {
        self.0.bio.as_ref().map(|bio| bio.as_str())
    }
    async fn image(&self) -> Option<&str> {
        self.0.image.as_ref().map(|image| image.as_str())
    }
    /// Whether the caller follows this author (false when anonymous).
    async fn following(&self) -> bool {
        self.0.following
    }
}

/// Profiles by account id, batched per request.
pub(crate) struct AuthorLoader {
    pub profiles: Arc<dyn ProfileService>,
    pub viewer: Option<Principal>,
}

impl Loader<Uuid> for AuthorLoader {
    type Value = Profile;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Profile>, Self::Error> {
        let profiles = self.profiles.many(self.viewer, keys.to_vec()).await?;
        Ok(profiles.into_iter().map(|p| (p.user_id, p)).collect())
    }
}

/// The authors of a page's elements, as `author` (their selection) asks
/// for them: nothing when unselected; from the rows themselves when only
/// `id` and `username` are asked (the page read those); else all the
/// profiles in one call. A page knows all its authors at once, where a
/// DataLoader gathers them only as fast as the elements resolve (in more
/// than one batch for a long page).
pub(crate) async fn authors_of_page<'a>(
    ctx: &Context<'_>,
    author: Lookahead<'_>,
    authors: impl Iterator<Item = &'a Author>,
) -> Result<HashMap<Uuid, Profile>> {
    if !author.exists() {
        return Ok(HashMap::new());
    }
    let from_rows = !["bio", "image", "following"]
        .iter()
        .any(|field| author.field(field).exists());
    if from_rows {
        return Ok(authors.map(|a| (a.id, unknown_profile(a))).collect());
    }
    let mut ids: Vec<Uuid> = authors.map(|a| a.id).collect();
    ids.sort_unstable();
    ids.dedup();
    let profiles = services(ctx)?
        .profiles
        .many(viewer(ctx), ids)
        .await
        .map_err(error::service)?;
    Ok(profiles.into_iter().map(|p| (p.user_id, p)).collect())
}

/// What a post or comment row says of its author, and nothing more.
fn unknown_profile(author: &Author) -> Profile {
    Profile {
        user_id: author.id,
        username: author.username.clone(),
        bio: None,
        image: None,
        following: false,
    }
}

/// The author behind `author`: `known` when the page fetched it, else
/// through the request's loader.
pub(crate) async fn author_of(
    ctx: &Context<'_>,
    author: &Author,
    known: Option<&Profile>,
) -> Result<ProfileObject> {
    if let Some(profile) = known {
        return Ok(ProfileObject(profile.clone()));
    }
    let loader = ctx.data::<DataLoader<AuthorLoader>>()?;
    let profile = loader
        .load_one(author.id)
        .await
        .map_err(|err| error::shared(&err))?;
    // An account deleted since the page was read has no profile: its name
    // as the page read it is what is left.
    Ok(ProfileObject(
        profile.unwrap_or_else(|| unknown_profile(author)),
    ))
}

#[derive(Debug, Default)]
pub struct ProfilesQuery;

#[Object]
impl ProfilesQuery {
    /// The profile of an active account; `null` when there is none.
    async fn profile(&self, ctx: &Context<'_>, username: String) -> Result<Option<ProfileObject>> {
        let Ok(name) = Username::parse(&username) else {
            return Ok(None);
        };
        match services(ctx)?
            .profiles
            .get(viewer(ctx), name.as_str())
            .await
        {
            Ok(profile) => Ok(Some(ProfileObject(profile))),
            Err(ServiceError::NotFound) => Ok(None),
            Err(err) => Err(error::service(err)),
        }
    }
}

#[derive(Debug, Default)]
pub struct ProfilesMutation;

#[Object]
impl ProfilesMutation {
    /// Changes the caller's bio or image: absent stays, `null` or blank
    /// clears.
    async fn update_profile(
        &self,
        ctx: &Context<'_>,
        bio: MaybeUndefined<String>,
        image: MaybeUndefined<String>,
    ) -> Result<ProfileObject> {
        let caller = caller(ctx)?;
        let update = ProfileUpdate::parse(bio.as_opt_deref(), image.as_opt_deref())
            .map_err(error::validation)?;
        services(ctx)?
            .profiles
            .update(&caller, update)
            .await
            .map(ProfileObject)
            .map_err(error::service)
    }

    /// Follows an author: their posts join the caller's feed.
    async fn follow(&self, ctx: &Context<'_>, username: String) -> Result<ProfileObject> {
        let caller = writer(ctx).await?;
        let name =
            Username::parse(&username).map_err(|_| error::service(ServiceError::NotFound))?;
        services(ctx)?
            .profiles
            .follow(&caller, name.as_str())
            .await
            .map(ProfileObject)
            .map_err(error::service)
    }

    /// Stops following an author.
    async fn unfollow(&self, ctx: &Context<'_>, username: String) -> Result<ProfileObject> {
        let caller = writer(ctx).await?;
        let name =
            Username::parse(&username).map_err(|_| error::service(ServiceError::NotFound))?;
        services(ctx)?
            .profiles
            .unfollow(&caller, name.as_str())
            .await
            .map(ProfileObject)
            .map_err(error::service)
    }
}
