//! The blog: posts and their comments.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::RepoError;
use crate::fields::Line;
use crate::idempotency::Completion;
use crate::items::{Title, bounded_text};
use crate::page::{After, Page, PageRequest, Sort};
use crate::text::{self, Lines};
use crate::validation::Violation;

/// A post or comment body: `max` characters at most, never blank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body(String);

impl Body {
    pub const POST_MAX: usize = 50_000;
    pub const COMMENT_MAX: usize = 5_000;

    /// # Errors
    /// A [`Violation`] (`length`) when blank or longer than `max`.
    pub fn parse(raw: &str, max: usize) -> Result<Self, Violation> {
        if raw.trim().is_empty() {
            return Err(Violation::new(
                "length",
                format!("must be 1 to {max} characters"),
            ));
        }
        bounded_text(raw, 1, max).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A post's name in URLs: lower-case ASCII words joined by `-`, ending in
/// a suffix taken from the post's id, so equal titles get distinct slugs
/// without a lookup. Fixed at creation: links stay valid when the title
/// changes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slug(String);

impl Slug {
    /// Words of the title kept, before the suffix.
    const WORDS_MAX: usize = 80;
    pub const MAX: usize = Self::WORDS_MAX + 1 + 12;

    /// The slug of a new post: the title's ASCII letters and digits, each
    /// other run of characters turned into one `-`, then the last 12 hex
    /// digits of `id` (random bits in a v7 id).
    pub fn for_title(title: &Title, id: Uuid) -> Self {
        let mut words = String::new();
        for c in title.as_str().chars() {
            if c.is_ascii_alphanumeric() {
                if words.len() >= Self::WORDS_MAX {
                    break;
                }
                words.push(c.to_ascii_lowercase());
            } else if !words.is_empty() && !words.ends_with('-') {
                words.push('-');
            }
        }
        let words = words.trim_end_matches('-');
        let simple = id.simple().to_string();
        let suffix = &simple[simple.len() - 12..];
        if words.is_empty() {
            Self(suffix.to_owned())
        } else {
            Self(format!("{words}-{suffix}"))
        }
    }

    /// A slug as stored or asked for.
    ///
    /// # Errors
    /// A [`Violation`] (`slug`) for anything a slug cannot be.
    pub fn parse(raw: &str) -> Result<Self, Violation> {
        let valid = !raw.is_empty()
            && raw.len() <= Self::MAX
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Violation::new(
                "slug",
                format!("must be 1 to {} of a-z, 0-9 and '-'", Self::MAX),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A post's summary, shown in lists instead of the body.
pub type Description = Line<500>;

/// A label on posts: one line of 1 to 64 characters, stored trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    pub const MAX: usize = 64;

    /// # Errors
    /// A [`Violation`] (`length`) for a blank or over-long tag, or
    /// [`text::CONTROL_CHARACTER`].
    pub fn parse(raw: &str) -> Result<Self, Violation> {
        text::check(raw, Lines::Single)?;
        let value = raw.trim();
        if value.is_empty() || value.chars().count() > Self::MAX {
            return Err(Violation::new(
                "length",
                format!("each tag must be 1 to {} characters", Self::MAX),
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A post's tags in the order given, without repeats.
pub type Tags = Vec<Tag>;

/// The most tags one post may carry.
pub const TAGS_MAX: usize = 20;

/// A post's tags under the domain's rule ([`parse_tags`]), each
/// also bounded as sent, so the documented `maxLength` is exactly the rule
/// (the domain bounds the trimmed tag).
///
/// # Errors
/// The [`Violation`] of the first bad tag, or `count` past
/// [`TAGS_MAX`].
pub fn tag_list<S: AsRef<str>>(raw: &[S]) -> Result<Tags, Violation> {
    let tags = parse_tags(raw)?;
    if raw
        .iter()
        .any(|tag| tag.as_ref().chars().count() > Tag::MAX)
    {
        return Err(Violation::new(
            "length",
            format!("each tag must be 1 to {} characters", Tag::MAX),
        ));
    }
    Ok(tags)
}

/// A tag to filter by, as a client sends it: trimmed, compared exactly;
/// blank means no filter.
///
/// # Errors
/// [`text::CONTROL_CHARACTER`].
pub fn tag_filter(raw: Option<&str>) -> Result<Option<String>, Violation> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    text::check(raw, Lines::Single)?;
    let tag = raw.trim();
    Ok((!tag.is_empty()).then(|| tag.to_owned()))
}

/// Parses a post's tag list: at most [`TAGS_MAX`], repeats dropped (the
/// first occurrence keeps its place).
///
/// # Errors
/// The first tag's [`Violation`], or `count` past [`TAGS_MAX`].
pub fn parse_tags<S: AsRef<str>>(raw: &[S]) -> Result<Tags, Violation> {
    if raw.len() > TAGS_MAX {
        return Err(Violation::new("count", format!("at most {TAGS_MAX} tags")));
    }
    let mut tags: Tags = Vec::with_capacity(raw.len());
    for tag in raw {
        let tag = Tag::parse(tag.as_ref())?;
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    Ok(tags)
}

/// Who wrote a post or comment, as shown to readers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    pub id: Uuid,
    pub username: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    pub id: Uuid,
    pub slug: Slug,
    pub title: Title,
    pub description: Option<Description>,
    pub body: Body,
    pub tags: Tags,
    pub author: Author,
    pub comment_count: u64,
    /// How many users marked the post as a favorite.
    pub favorites_count: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewPost {
    pub id: Uuid,
    pub slug: Slug,
    pub title: Title,
    pub description: Option<Description>,
    pub body: Body,
    pub tags: Tags,
    pub author_id: Uuid,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostChanges {
    pub title: Option<Title>,
    /// `Some(None)` removes the description.
    pub description: Option<Option<Description>>,
    pub body: Option<Body>,
    /// The whole new list; `Some(vec![])` removes every tag.
    pub tags: Option<Tags>,
}

impl PostChanges {
    /// The changes as a client sends them: an absent field stays, a null
    /// description is removed, `tags` replaces the whole list.
    ///
    /// # Errors
    /// Every bad field, named (`title`, `description`, `body`, `tags`).
    pub fn parse(
        title: Option<&str>,
        description: Option<Option<&str>>,
        body: Option<&str>,
        tags: Option<&[String]>,
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
        let body = body.and_then(|raw| errors.check("body", Body::parse(raw, Body::POST_MAX)));
        let tags = tags.and_then(|raw| errors.check("tags", tag_list(raw)));
        errors.into_result()?;
        Ok(Self {
            title,
            description,
            body,
            tags,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub id: Uuid,
    pub post_id: Uuid,
    /// Its rank among the post's comments, from 1, never reused after a
    /// deletion: how RealWorld clients name a comment under its post.
    pub number: u64,
    pub body: Body,
    pub author: Author,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewComment {
    pub id: Uuid,
    pub post_id: Uuid,
    pub body: Body,
    pub author_id: Uuid,
    pub created_at: DateTime<Utc>,
}

pub type PostSortField = crate::page::TitledSortField;

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct PostFilter {
    /// The author's username, compared case-insensitively.
    pub author: Option<String>,
    /// Lower-cased text searched in title and body.
    pub q: Option<String>,
    /// Posts carrying this tag (exact match).
    pub tag: Option<String>,
    /// Posts this user (by username, case-insensitively) marked as a favorite.
    pub favorited_by: Option<String>,
    /// Posts whose authors this user follows: the user's feed.
    pub followed_by: Option<Uuid>,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PostRepository: Send + Sync {
    /// Inserts a post.
    ///
    /// With `once`, its attempt is completed in the same transaction (see
    /// [`crate::idempotency`]).
    ///
    /// # Errors
    /// [`RepoError::NotFound`] when the author does not exist;
    /// [`RepoError::ClaimLost`] when `once`'s attempt lost its key (nothing
    /// is written).
    async fn create_keyed(
        &self,
        post: NewPost,
        once: Option<Completion<Post>>,
    ) -> Result<Post, RepoError>;

    /// [`Self::create_keyed`] without a key.
    ///
    /// # Errors
    /// As [`Self::create_keyed`].
    async fn create(&self, post: NewPost) -> Result<Post, RepoError> {
        self.create_keyed(post, None).await
    }

    /// # Errors
    /// [`RepoError::NotFound`] when no post has this id.
    async fn find(&self, id: Uuid) -> Result<Post, RepoError>;

    /// # Errors
    /// [`RepoError::NotFound`] when no post has this slug.
    async fn find_by_slug(&self, slug: &Slug) -> Result<Post, RepoError>;

    /// Marks the post as one of `user_id`'s favorites; marking it twice
    /// changes nothing. Returns the post with its new count.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] when the post (or user) does not exist.
    async fn favorite(&self, user_id: Uuid, post_id: Uuid) -> Result<Post, RepoError>;

    /// Removes the mark; removing an absent one changes nothing.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] when the post does not exist.
    async fn unfavorite(&self, user_id: Uuid, post_id: Uuid) -> Result<Post, RepoError>;

    /// Which of `post_ids` `user_id` marked as favorites, in one query.
    ///
    /// # Errors
    /// Only storage failures.
    async fn favorited_among(
        &self,
        user_id: Uuid,
        post_ids: Vec<Uuid>,
    ) -> Result<Vec<Uuid>, RepoError>;

    /// The tags in use, most used first (ties by name), at most `limit`.
    ///
    /// # Errors
    /// Only storage failures.
    async fn tags(&self, limit: u64) -> Result<Vec<Tag>, RepoError>;

    /// A page of posts with their authors and comment counts, in a constant
    /// number of queries whatever the page size (no query per post).
    ///
    /// # Errors
    /// Only storage failures.
    async fn list(
        &self,
        filter: PostFilter,
        sort: Sort<PostSortField>,
        page: PageRequest,
    ) -> Result<Page<Post>, RepoError>;

    /// Like [`list`](Self::list), from a keyset position instead of an
    /// offset (`page`'s offset is ignored). The total still counts every
    /// post matching `filter`.
    ///
    /// # Errors
    /// Only storage failures.
    async fn list_after(
        &self,
        filter: PostFilter,
        sort: Sort<PostSortField>,
        after: After,
        page: PageRequest,
    ) -> Result<Page<Post>, RepoError>;

    /// # Errors
    /// [`RepoError::NotFound`] when the post is gone.
    async fn update(
        &self,
        id: Uuid,
        changes: PostChanges,
        now: DateTime<Utc>,
    ) -> Result<Post, RepoError>;

    /// Deletes the post and (by cascade) its comments.
    ///
    /// # Errors
    /// [`RepoError::NotFound`] when the post is already gone.
    async fn delete(&self, id: Uuid) -> Result<(), RepoError>;

    /// Inserts a comment (and the notification it causes).
    ///
    /// With `once`, its attempt is completed in the same transaction (see
    /// [`crate::idempotency`]).
    ///
    /// # Errors
    /// [`RepoError::NotFound`] when the post (or author) does not exist;
    /// [`RepoError::ClaimLost`] when `once`'s attempt lost its key (nothing
    /// is written).
    async fn add_comment_keyed(
        &self,
        comment: NewComment,
        once: Option<Completion<Comment>>,
    ) -> Result<Comment, RepoError>;

    /// [`Self::add_comment_keyed`] without a key.
    ///
    /// # Errors
    /// As [`Self::add_comment_keyed`].
    async fn add_comment(&self, comment: NewComment) -> Result<Comment, RepoError> {
        self.add_comment_keyed(comment, None).await
    }

    /// A page of the post's comments, oldest first.
    ///
    /// # Errors
    /// Only storage failures (an unknown post yields an empty page).
    async fn list_comments(
        &self,
        post_id: Uuid,
        page: PageRequest,
    ) -> Result<Page<Comment>, RepoError>;

    /// # Errors
    /// [`RepoError::NotFound`] when the comment does not exist under this post.
    async fn find_comment(&self, post_id: Uuid, comment_id: Uuid) -> Result<Comment, RepoError>;

    /// The post's comment with this [`Comment::number`].
    ///
    /// # Errors
    /// [`RepoError::NotFound`] when the post has no such comment (now).
    async fn find_comment_by_number(
        &self,
        post_id: Uuid,
        number: u64,
    ) -> Result<Comment, RepoError>;

    /// # Errors
    /// [`RepoError::NotFound`] when the comment is already gone.
    async fn delete_comment(&self, comment_id: Uuid) -> Result<(), RepoError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_never_blank_and_bounded_by_their_kind() {
        assert!(Body::parse("  ", Body::POST_MAX).is_err());
        assert!(Body::parse(&"x".repeat(5_000), Body::COMMENT_MAX).is_ok());
        assert!(Body::parse(&"x".repeat(5_001), Body::COMMENT_MAX).is_err());
        assert!(Body::parse(&"x".repeat(50_000), Body::POST_MAX).is_ok());
    }

    #[test]
    fn slugs_keep_the_titles_words_and_differ_for_equal_titles() {
        let title = Title::parse("  Hello, World! Ünïcode 2026 ").unwrap();
        let a = Slug::for_title(&title, Uuid::now_v7());
        let b = Slug::for_title(&title, Uuid::now_v7());
        assert!(a.as_str().starts_with("hello-world-n-code-2026-"), "{a:?}");
        assert_ne!(a, b);
        assert_eq!(Slug::parse(a.as_str()), Ok(a.clone()));
        let only_symbols = Slug::for_title(&Title::parse("!!!").unwrap(), Uuid::now_v7());
        assert_eq!(only_symbols.as_str().len(), 12);
        let long = Slug::for_title(&Title::parse(&"ab ".repeat(60)).unwrap(), Uuid::now_v7());
        assert!(long.as_str().len() <= Slug::MAX);
        assert!(Slug::parse("Not-A-Slug").is_err());
        assert!(Slug::parse("").is_err());
        assert!(Slug::parse(&"a".repeat(Slug::MAX + 1)).is_err());
    }

    #[test]
    fn tags_are_trimmed_bounded_and_deduplicated_in_order() {
        let tags = parse_tags(&["rust", " web ", "rust", "db"]).unwrap();
        let names: Vec<&str> = tags.iter().map(Tag::as_str).collect();
        assert_eq!(names, ["rust", "web", "db"]);
        assert!(parse_tags(&[" "]).is_err());
        assert!(parse_tags(&["x".repeat(65)]).is_err());
        assert!(parse_tags(&vec!["t"; TAGS_MAX + 1]).is_err());
        assert!(parse_tags(&["a\nb"]).is_err());
    }
}
