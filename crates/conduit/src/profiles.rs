//! `/profiles/{username}` and following, and the author shown on every
//! article and comment.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use serde::Serialize;
use strata_domain::auth::Principal;
use strata_domain::posts::Author;
use strata_domain::profiles::Profile;
use strata_domain::text::{self, Lines};
use uuid::Uuid;

use crate::Conduit;
use crate::auth::{Caller, MaybeCaller};
use crate::error::{About, ConduitError, Subject};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/profiles/{username}").route(web::get().to(get_profile)))
        .service(
            web::resource("/profiles/{username}/follow")
                .route(web::post().to(follow))
                .route(web::delete().to(unfollow)),
        );
}

/// A profile as Conduit shows it, alone or as an author.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileDto {
    pub username: String,
    pub bio: Option<String>,
    pub image: Option<String>,
    pub following: bool,
}

impl From<&Profile> for ProfileDto {
    fn from(profile: &Profile) -> Self {
        Self {
            username: profile.username.clone(),
            bio: profile.bio.as_ref().map(|b| b.as_str().to_owned()),
            image: profile.image.as_ref().map(|i| i.as_str().to_owned()),
            following: profile.following,
        }
    }
}

#[derive(Serialize)]
struct ProfileBody {
    profile: ProfileDto,
}

fn answer(profile: &Profile) -> HttpResponse {
    HttpResponse::Ok().json(ProfileBody {
        profile: profile.into(),
    })
}

/// The authors of a page of articles or comments, fetched in one call
/// whatever the page's size.
#[derive(Debug, Default)]
pub struct Authors(HashMap<Uuid, ProfileDto>);

impl Authors {
    /// The profiles of `ids` (repeats allowed) as `viewer` sees them; no
    /// call at all for an empty page.
    ///
    /// # Errors
    /// The profile service's failure.
    pub async fn load(
        conduit: &Conduit,
        viewer: Option<Principal>,
        ids: impl IntoIterator<Item = Uuid>,
    ) -> Result<Self, ConduitError> {
        let mut ids: Vec<Uuid> = ids.into_iter().collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(Self::default());
        }
        let profiles = conduit
            .profiles
            .many(viewer, ids)
            .await
            .about(Subject::Profile)?;
        Ok(Self(
            profiles
                .iter()
                .map(|profile| (profile.user_id, profile.into()))
                .collect(),
        ))
    }

    /// `author`'s profile. One missing from the answer (an account
    /// deactivated between the two reads) is shown by name alone rather
    /// than failing the page.
    pub fn of(&self, author: &Author) -> ProfileDto {
        self.0
            .get(&author.id)
            .cloned()
            .unwrap_or_else(|| ProfileDto {
                username: author.username.clone(),
                bio: None,
                image: None,
                following: false,
            })
    }
}

/// The name in the path; one holding a control character (a NUL would
/// fail the query on PostgreSQL) names nobody.
fn named(raw: &str) -> Result<&str, ConduitError> {
    text::check(raw, Lines::Single)
        .map(|()| raw)
        .map_err(|_| ConduitError::NotFound(Subject::Profile))
}

async fn get_profile(
    viewer: MaybeCaller,
    conduit: web::Data<Conduit>,
    name: web::Path<String>,
) -> Result<HttpResponse, ConduitError> {
    let username = named(&name)?;
    let profile = conduit
        .profiles
        .get(viewer.0, username)
        .await
        .about(Subject::Profile)?;
    Ok(answer(&profile))
}

async fn follow(
    caller: Caller,
    conduit: web::Data<Conduit>,
    name: web::Path<String>,
) -> Result<HttpResponse, ConduitError> {
    let username = named(&name)?;
    let profile = conduit
        .profiles
        .follow(&caller.principal, username)
        .await
        .about(Subject::Profile)?;
    Ok(answer(&profile))
}

async fn unfollow(
    caller: Caller,
    conduit: web::Data<Conduit>,
    name: web::Path<String>,
) -> Result<HttpResponse, ConduitError> {
    let username = named(&name)?;
    let profile = conduit
        .profiles
        .unfollow(&caller.principal, username)
        .await
        .about(Subject::Profile)?;
    Ok(answer(&profile))
}
