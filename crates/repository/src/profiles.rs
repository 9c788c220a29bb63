//! Public profiles (`users` with their optional `profiles` row) and
//! `follows`.

use async_trait::async_trait;
use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query, SimpleExpr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    FromQueryResult, JoinType, QueryFilter, QuerySelect, RelationTrait, Select,
};
use strata_domain::RepoError;
use strata_domain::profiles::{Bio, ImageUrl, Profile, ProfileRepository, ProfileUpdate};
use uuid::Uuid;

use crate::entities::{follows, profiles, users};
use crate::error::DbResultExt;
use crate::query::{invalid_row, micros, unmatchable};
use crate::tx::WriteGate;

/// [`ProfileRepository`] over sea-orm: every read is one statement (the
/// account, its profile row and whether the viewer follows it).
#[derive(Debug, Clone)]
pub struct SeaProfileRepository {
    db: DatabaseConnection,
    /// Taken by every write (see [`WriteGate`]).
    writes: WriteGate,
}

impl SeaProfileRepository {
    pub fn new(db: DatabaseConnection) -> Self {
        let writes = WriteGate::of(&db);
        Self { db, writes }
    }
}

#[derive(Debug, FromQueryResult)]
struct ProfileRow {
    id: Uuid,
    username: String,
    bio: Option<String>,
    image: Option<String>,
    following: bool,
}

impl TryFrom<ProfileRow> for Profile {
    type Error = RepoError;

    fn try_from(row: ProfileRow) -> Result<Self, Self::Error> {
        let id = row.id;
        Ok(Profile {
            user_id: id,
            username: row.username,
            // Stored non-empty: an empty bio is stored as NULL.
            bio: row
                .bio
                .as_deref()
                .map(Bio::parse)
                .transpose()
                .map_err(|v| invalid_row("profiles", id, "bio", v))?,
            image: row
                .image
                .as_deref()
                .map(ImageUrl::parse)
                .transpose()
                .map_err(|v| invalid_row("profiles", id, "image", v))?,
            following: row.following,
        })
    }
}

/// Active accounts with their profile columns and, for `viewer`, whether
/// they follow each one (a primary-key probe of `follows`).
fn profiles_seen_by(viewer: Option<Uuid>) -> Select<users::Entity> {
    let following: SimpleExpr = match viewer {
        Some(viewer) => Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from(follows::Entity)
                .and_where(follows::Column::FollowerId.eq(viewer))
                .and_where(
                    Expr::col(follows::Column::FolloweeId.as_column_ref())
                        .equals(users::Column::Id.as_column_ref()),
                )
                .to_owned(),
        ),
        None => Expr::val(false),
    };
    users::Entity::find()
        .select_only()
        .columns([users::Column::Id, users::Column::Username])
        .column(profiles::Column::Bio)
        .column(profiles::Column::Image)
        .expr_as(following, "following")
        .join(JoinType::LeftJoin, profiles::Relation::User.def().rev())
        .filter(users::Column::IsActive.eq(true))
}

async fn load(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    viewer: Option<Uuid>,
) -> Result<Profile, RepoError> {
    profiles_seen_by(viewer)
        .filter(users::Column::Id.eq(user_id))
        .into_model::<ProfileRow>()
        .one(conn)
        .await
        .or_repo("Failed to load profile")?
        .ok_or(RepoError::NotFound)
        .and_then(Profile::try_from)
}

/// An optional text column as stored: an empty value is NULL.
fn stored(value: Option<&str>) -> Option<String> {
    value.filter(|v| !v.is_empty()).map(str::to_owned)
}

#[async_trait]
impl ProfileRepository for SeaProfileRepository {
    async fn find_by_username(
        &self,
        username: &str,
        viewer: Option<Uuid>,
    ) -> Result<Profile, RepoError> {
        if unmatchable(username) {
            return Err(RepoError::NotFound);
        }
        profiles_seen_by(viewer)
            .filter(users::Column::UsernameLower.eq(username.trim().to_ascii_lowercase()))
            .into_model::<ProfileRow>()
            .one(&self.db)
            .await
            .or_repo("Failed to find profile")?
            .ok_or(RepoError::NotFound)
            .and_then(Profile::try_from)
    }

    async fn find_many(
        &self,
        user_ids: Vec<Uuid>,
        viewer: Option<Uuid>,
    ) -> Result<Vec<Profile>, RepoError> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        profiles_seen_by(viewer)
            .filter(users::Column::Id.is_in(user_ids))
            .into_model::<ProfileRow>()
            .all(&self.db)
            .await
            .or_repo("Failed to load profiles")?
            .into_iter()
            .map(Profile::try_from)
            .collect()
    }

    async fn update(&self, user_id: Uuid, update: ProfileUpdate) -> Result<Profile, RepoError> {
        let bio = update
            .bio
            .as_ref()
            .map(|b| stored(b.as_ref().map(Bio::as_str)));
        let image = update
            .image
            .as_ref()
            .map(|i| stored(i.as_ref().map(ImageUrl::as_str)));
        // Only the fields given change; the others keep their value when the
        // row exists, and are NULL when this creates it.
        let mut changed = vec![profiles::Column::UpdatedAt];
        if bio.is_some() {
            changed.push(profiles::Column::Bio);
        }
        if image.is_some() {
            changed.push(profiles::Column::Image);
        }
        let row = profiles::ActiveModel {
            user_id: Set(user_id),
            bio: Set(bio.flatten()),
            image: Set(image.flatten()),
            updated_at: Set(micros(Utc::now())),
        };
        let txn = self.writes.begin(&self.db).await?;
        // A missing account breaks the foreign key: NotFound.
        profiles::Entity::insert(row)
            .on_conflict(
                OnConflict::column(profiles::Column::UserId)
                    .update_columns(changed)
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await
            .or_repo("Failed to update profile")?;
        let profile = load(&txn, user_id, None).await?;
        txn.commit().await.or_repo("Failed to commit profile")?;
        Ok(profile)
    }

    async fn follow(&self, follower: Uuid, followee: Uuid) -> Result<(), RepoError> {
        let db = self.writes.enter(&self.db).await?;
        follows::Entity::insert(follows::ActiveModel {
            follower_id: Set(follower),
            followee_id: Set(followee),
            created_at: Set(micros(Utc::now())),
        })
        .on_conflict(
            OnConflict::columns([follows::Column::FollowerId, follows::Column::FolloweeId])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&db)
        .await
        .or_repo("Failed to follow")?;
        Ok(())
    }

    async fn unfollow(&self, follower: Uuid, followee: Uuid) -> Result<(), RepoError> {
        let db = self.writes.enter(&self.db).await?;
        follows::Entity::delete_many()
            .filter(follows::Column::FollowerId.eq(follower))
            .filter(follows::Column::FolloweeId.eq(followee))
            .exec(&db)
            .await
            .or_repo("Failed to unfollow")?;
        Ok(())
    }
}
