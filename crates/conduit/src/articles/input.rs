//! What article routes accept: bodies and query strings, parsed into the
//! domain's values with every violation reported at once.

use serde::Deserialize;
use strata_domain::ValidationErrors;
use strata_domain::items::Title;
use strata_domain::page::{MAX_LIMIT, MAX_OFFSET, PageRequest};
use strata_domain::posts::{Body, Description, PostChanges, PostFilter, parse_tags};
use strata_domain::text::{self, Lines};
use strata_domain::validation::Violation;
use strata_service::posts::PostDraft;

use crate::json::{required, tri_state};

#[derive(Deserialize)]
pub struct ArticleEnvelope<T> {
    pub article: T,
}

/// `POST /articles`: title, description and body are required.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewArticle {
    title: Option<String>,
    description: Option<String>,
    body: Option<String>,
    /// Absent: no tags. `null` is refused as in `PUT`, so one body means
    /// the same on both routes.
    #[serde(default, deserialize_with = "tri_state")]
    tag_list: Option<Option<Vec<String>>>,
}

/// `PUT /articles/{slug}`: an absent key leaves its field unchanged.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArticleChanges {
    #[serde(default, deserialize_with = "tri_state")]
    title: Option<Option<String>>,
    #[serde(default, deserialize_with = "tri_state")]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "tri_state")]
    body: Option<Option<String>>,
    #[serde(default, deserialize_with = "tri_state")]
    tag_list: Option<Option<Vec<String>>>,
}

/// The field name Conduit's clients know the tags by.
const TAG_LIST: &str = "tagList";

fn post_body(raw: &str) -> Result<Body, Violation> {
    Body::parse(raw, Body::POST_MAX)
}

/// A present `tagList`: a list parses, `null` is refused.
fn tags(
    errors: &mut ValidationErrors,
    raw: Option<&Vec<String>>,
) -> Option<strata_domain::posts::Tags> {
    match raw {
        Some(list) => errors.check(TAG_LIST, parse_tags(list)),
        None => {
            errors.push(
                TAG_LIST,
                Violation::new("type", "must be a list of tags, [] for none"),
            );
            None
        }
    }
}

impl NewArticle {
    /// # Errors
    /// Every field's violation.
    pub fn parse(&self) -> Result<PostDraft, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let title = required(&mut errors, "title", self.title.as_deref(), Title::parse);
        let description = required(
            &mut errors,
            "description",
            self.description.as_deref(),
            Description::parse,
        );
        let body = required(&mut errors, "body", self.body.as_deref(), post_body);
        let tags = match &self.tag_list {
            None => Some(Vec::new()),
            Some(raw) => tags(&mut errors, raw.as_ref()),
        };
        match (title, description, body, tags) {
            (Some(title), Some(description), Some(body), Some(tags)) => Ok(PostDraft {
                title,
                description: Some(description),
                body,
                tags,
            }),
            _ => Err(errors),
        }
    }
}

impl ArticleChanges {
    /// A present text field may not be null or blank: Conduit articles
    /// always have a title, a description and a body.
    ///
    /// # Errors
    /// Every field's violation.
    pub fn parse(&self) -> Result<PostChanges, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let title = self
            .title
            .as_ref()
            .and_then(|raw| required(&mut errors, "title", raw.as_deref(), Title::parse));
        let description = self.description.as_ref().and_then(|raw| {
            required(
                &mut errors,
                "description",
                raw.as_deref(),
                Description::parse,
            )
        });
        let body = self
            .body
            .as_ref()
            .and_then(|raw| required(&mut errors, "body", raw.as_deref(), post_body));
        let tags = self
            .tag_list
            .as_ref()
            .and_then(|raw| tags(&mut errors, raw.as_ref()));
        errors.into_result()?;
        Ok(PostChanges {
            title,
            description: description.map(Some),
            body,
            tags,
        })
    }
}

/// Text, not numbers, so that a bad value is a field error of ours rather
/// than a shape error of the query string.
#[derive(Deserialize)]
pub struct PageQuery {
    limit: Option<String>,
    offset: Option<String>,
}

#[derive(Deserialize)]
pub struct ListQuery {
    tag: Option<String>,
    author: Option<String>,
    favorited: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

/// An integer parameter; empty counts as absent.
fn integer(errors: &mut ValidationErrors, field: &str, raw: Option<&str>) -> Option<i64> {
    let raw = raw.map(str::trim).filter(|raw| !raw.is_empty())?;
    errors.check(
        field,
        raw.parse::<i64>()
            .map_err(|_| Violation::new("integer", "must be an integer")),
    )
}

/// Conduit clamps rather than refuses: limit to 1..=100 (default 20),
/// offset to 0.. (default 0).
fn page(
    errors: &mut ValidationErrors,
    limit: Option<&str>,
    offset: Option<&str>,
) -> Option<PageRequest> {
    let max_limit = i64::try_from(MAX_LIMIT).unwrap_or(i64::MAX);
    let max_offset = i64::try_from(MAX_OFFSET).unwrap_or(i64::MAX);
    let limit = integer(errors, "limit", limit).map(|l| l.clamp(1, max_limit));
    let offset = integer(errors, "offset", offset).map(|o| o.clamp(0, max_offset));
    match PageRequest::new(limit, offset) {
        Ok(page) => Some(page),
        Err((field, violation)) => {
            errors.push(field, violation);
            None
        }
    }
}

/// A filter's text: empty counts as absent, control characters are
/// refused (the same rule as every text that enters Strata).
fn filter_text(errors: &mut ValidationErrors, field: &str, raw: Option<&str>) -> Option<String> {
    let raw = raw.map(str::trim).filter(|raw| !raw.is_empty())?;
    errors
        .check(field, text::check(raw, Lines::Single))
        .map(|()| raw.to_owned())
}

impl PageQuery {
    /// # Errors
    /// A `limit` or `offset` that is not an integer.
    pub fn parse(&self) -> Result<PageRequest, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let page = page(&mut errors, self.limit.as_deref(), self.offset.as_deref());
        match page {
            Some(page) if errors.is_empty() => Ok(page),
            _ => Err(errors),
        }
    }
}

impl ListQuery {
    /// # Errors
    /// A page parameter that is not an integer, or a filter holding a
    /// control character.
    pub fn parse(&self) -> Result<(PostFilter, PageRequest), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let filter = PostFilter {
            author: filter_text(&mut errors, "author", self.author.as_deref()),
            tag: filter_text(&mut errors, "tag", self.tag.as_deref()),
            favorited_by: filter_text(&mut errors, "favorited", self.favorited.as_deref()),
            // Conduit has no search, and the feed is its own route.
            q: None,
            followed_by: None,
        };
        let page = page(&mut errors, self.limit.as_deref(), self.offset.as_deref());
        match page {
            Some(page) if errors.is_empty() => Ok((filter, page)),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(query: &str) -> Result<(PostFilter, PageRequest), ValidationErrors> {
        let query: ListQuery = serde_json::from_str(query).unwrap();
        query.parse()
    }

    #[test]
    fn pages_are_clamped_not_refused() {
        let (_, page) = list(r#"{"limit":"1000","offset":"-5"}"#).unwrap();
        assert_eq!((page.limit(), page.offset()), (100, 0));
        let (_, page) = list(r#"{"limit":"0"}"#).unwrap();
        assert_eq!((page.limit(), page.offset()), (1, 0));
        let (_, page) = list("{}").unwrap();
        assert_eq!((page.limit(), page.offset()), (20, 0));
        let errors = list(r#"{"limit":"ten"}"#).unwrap_err();
        assert_eq!(errors.0[0].field, "limit");
    }

    #[test]
    fn filters_keep_their_text_and_refuse_control_characters() {
        let (filter, _) = list(r#"{"tag":" rust ","author":"","favorited":"ada"}"#).unwrap();
        assert_eq!(filter.tag.as_deref(), Some("rust"));
        assert_eq!(filter.author, None);
        assert_eq!(filter.favorited_by.as_deref(), Some("ada"));
        let errors = list(r#"{"tag":"a\u0000b"}"#).unwrap_err();
        assert_eq!(errors.0[0].field, "tag");
    }

    #[test]
    fn a_present_field_of_a_change_may_not_be_blank() {
        let changes: ArticleChanges =
            serde_json::from_str(r#"{"title":null,"body":"  ","tagList":[]}"#).unwrap();
        let errors = changes.parse().unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["title", "body"]);
        let changes: ArticleChanges = serde_json::from_str(r#"{"tagList":[]}"#).unwrap();
        assert_eq!(changes.parse().unwrap().tags, Some(Vec::new()));
    }
}
