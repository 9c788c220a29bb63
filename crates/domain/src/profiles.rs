//! Public profiles: what readers see of an author (username, bio, image),
//! and who follows whom.

use async_trait::async_trait;
use uuid::Uuid;

use crate::RepoError;
use crate::fields::Text;
use crate::text::{self, Lines};
use crate::validation::Violation;

/// A short text about the author; empty means "none".
pub type Bio = Text<2_000>;

/// The address of the author's picture: an absolute `http` or `https` URL
/// of at most 2,048 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUrl(String);

impl ImageUrl {
    pub const MAX: usize = 2_048;

    /// # Errors
    /// A [`Violation`] (`url`) for anything but an absolute http(s) URL
    /// without spaces, or [`text::CONTROL_CHARACTER`].
    pub fn parse(raw: &str) -> Result<Self, Violation> {
        text::check(raw, Lines::Single)?;
        let value = raw.trim();
        let rest = value
            .strip_prefix("https://")
            .or_else(|| value.strip_prefix("http://"));
        let valid = value.chars().count() <= Self::MAX
            && rest.is_some_and(|rest| {
                !rest.is_empty() && !rest.starts_with('/') && !rest.contains(char::is_whitespace)
            });
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err(Violation::new(
                "url",
                format!(
                    "must be an absolute http or https URL of at most {} characters",
                    Self::MAX
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A bio as a client sends it: blank means none.
///
/// # Errors
/// As [`Bio::parse`].
pub fn optional_bio(raw: &str) -> Result<Option<Bio>, Violation> {
    let bio = Bio::parse(raw)?;
    Ok((!raw.trim().is_empty()).then_some(bio))
}

/// An image URL as a client sends it: blank means none. Judged as sent
/// first (no control character, at most [`ImageUrl::MAX`] characters), so a
/// documented `pattern` and `maxLength` are exactly the rule, blank or not
/// ([`ImageUrl::parse`] bounds the trimmed URL).
///
/// # Errors
/// A [`Violation`] (`url`), or [`text::CONTROL_CHARACTER`].
pub fn optional_image(raw: &str) -> Result<Option<ImageUrl>, Violation> {
    text::check(raw, Lines::Single)?;
    if raw.chars().count() > ImageUrl::MAX {
        return Err(Violation::new(
            "url",
            format!(
                "must be an absolute http or https URL of at most {} characters",
                ImageUrl::MAX
            ),
        ));
    }
    if raw.trim().is_empty() {
        return Ok(None);
    }
    ImageUrl::parse(raw).map(Some)
}

/// An author as a given reader sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub user_id: Uuid,
    pub username: String,
    pub bio: Option<Bio>,
    pub image: Option<ImageUrl>,
    /// Whether the reader follows this author (false for anonymous readers
    /// and for oneself).
    pub following: bool,
}

/// Changes to the caller's own profile; `Some(None)` clears a field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileUpdate {
    pub bio: Option<Option<Bio>>,
    pub image: Option<Option<ImageUrl>>,
}

impl ProfileUpdate {
    /// The update as a client sends it: an absent field stays, a null or
    /// blank one is cleared.
    ///
    /// # Errors
    /// Every bad field, named (`bio`, `image`).
    pub fn parse(
        bio: Option<Option<&str>>,
        image: Option<Option<&str>>,
    ) -> Result<Self, crate::ValidationErrors> {
        let mut errors = crate::ValidationErrors::default();
        let bio = bio
            .and_then(|raw| raw.map_or(Some(None), |raw| errors.check("bio", optional_bio(raw))));
        let image = image.and_then(|raw| {
            raw.map_or(Some(None), |raw| errors.check("image", optional_image(raw)))
        });
        errors.into_result()?;
        Ok(Self { bio, image })
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ProfileRepository: Send + Sync {
    /// The active account with this username (compared case-insensitively),
    /// as `viewer` sees it.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] when no active account has the username.
    async fn find_by_username(
        &self,
        username: &str,
        viewer: Option<Uuid>,
    ) -> Result<Profile, RepoError>;

    /// The profiles of `user_ids` as `viewer` sees them, in one query; ids
    /// without an account are left out.
    ///
    /// # Errors
    /// Only storage failures.
    async fn find_many(
        &self,
        user_ids: Vec<Uuid>,
        viewer: Option<Uuid>,
    ) -> Result<Vec<Profile>, RepoError>;

    /// Applies `update` to `user_id`'s profile and returns it.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] when the account is gone.
    async fn update(&self, user_id: Uuid, update: ProfileUpdate) -> Result<Profile, RepoError>;

    /// Makes `follower` follow `followee`; following twice changes nothing.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] when either account is gone.
    async fn follow(&self, follower: Uuid, followee: Uuid) -> Result<(), RepoError>;

    /// Ends the follow; ending an absent one changes nothing.
    ///
    /// # Errors
    /// Only storage failures.
    async fn unfollow(&self, follower: Uuid, followee: Uuid) -> Result<(), RepoError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_fields_are_judged_as_sent_and_blank_means_none() {
        // Judged as sent: padding cannot stretch the documented maximum, and
        // a blank value clears only within the documented pattern and bound.
        let padded = format!("  https://e.com/{}", "a".repeat(ImageUrl::MAX - 15));
        assert!(ImageUrl::parse(&padded).is_ok());
        assert_eq!(optional_image(&padded).unwrap_err().code, "url");
        assert_eq!(
            optional_image(&" ".repeat(ImageUrl::MAX + 1))
                .unwrap_err()
                .code,
            "url"
        );
        assert_eq!(
            optional_image("\t").unwrap_err().code,
            text::CONTROL_CHARACTER
        );
        assert_eq!(optional_image("  ").unwrap(), None);
        assert_eq!(optional_bio(&" ".repeat(2_001)).unwrap_err().code, "length");
        assert_eq!(
            optional_bio(" \n ").unwrap().map(|b| b.as_str().to_owned()),
            None
        );
    }

    #[test]
    fn images_are_absolute_http_urls() {
        assert_eq!(
            ImageUrl::parse(" https://example.com/a.jpg ")
                .unwrap()
                .as_str(),
            "https://example.com/a.jpg"
        );
        assert!(ImageUrl::parse("http://example.com").is_ok());
        for bad in [
            "",
            "example.com/a.jpg",
            "javascript:alert(1)",
            "https://",
            "https:///a",
            "https://a b",
            "ftp://example.com",
        ] {
            assert!(ImageUrl::parse(bad).is_err(), "{bad}");
        }
        assert!(ImageUrl::parse(&format!("https://e.com/{}", "a".repeat(2_048))).is_err());
    }

    #[test]
    fn an_update_without_fields_is_empty() {
        assert!(ProfileUpdate::default().is_empty());
        let clear = ProfileUpdate {
            bio: Some(None),
            ..ProfileUpdate::default()
        };
        assert!(!clear.is_empty());
    }
}
